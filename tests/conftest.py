"""Shared pytest set-up: markers for slow and GPU tests, and the location of shared corpora."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Test modules anywhere under tests/ import the helpers in tinydata.py (pytest runs in importlib mode).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tinydata import write_demo_dir  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CORPORA = (REPO / ".." / "shared" / "corpora").resolve()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow (recipes end to end)")


def pytest_configure(config: pytest.Config) -> None:
    # Fuzz tests (hypothesis): a fixed set of cases in `make test`, thousands of random ones with --run-slow.
    try:
        from hypothesis import settings
    except ImportError:  # pragma: no cover
        return
    settings.register_profile("fixed", max_examples=100, derandomize=True, database=None, print_blob=True)
    settings.register_profile("slow", max_examples=1500, database=None, print_blob=True)
    settings.load_profile("slow" if config.getoption("--run-slow") else "fixed")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = config.getoption("--run-slow")
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow test: run with --run-slow"))
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


@pytest.fixture(scope="session")
def corpora() -> Path:
    """Path to ../shared/corpora; skips the test when it is absent."""
    if not CORPORA.is_dir():
        pytest.skip(f"shared corpora not found at {CORPORA}")
    return CORPORA


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(train, dev) data dirs: 16 and 6 short demo utterances."""
    root = tmp_path_factory.mktemp("tiny_data")
    train = write_demo_dir(root / "train", "train", [f"s0{s}-00{i}" for s in (1, 2) for i in range(8)])
    dev = write_demo_dir(root / "dev", "test", [f"s{s}-00{i}" for s in (11, 12) for i in range(3)])
    return train, dev
