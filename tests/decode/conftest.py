"""Fixtures of the decoder tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from ctcdata import SENTENCES

from asr.lm import estimate_kneser_ney


@pytest.fixture(scope="module")
def arpa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bigram LM of SENTENCES: after THE, CAT is far likelier than HAT."""
    path = tmp_path_factory.mktemp("lm") / "lm.arpa"
    estimate_kneser_ney([s.split() for s in SENTENCES * 3], order=2).write_arpa(path)
    return path
