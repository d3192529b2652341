"""Config loading: YAML files, dotted overrides, type checks, and the YAML round trip."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from asr.config import ConfigError, from_dict, load_config, to_dict, to_yaml


@dataclass
class Inner:
    size: int = 3  # a size
    factors: list[float] = field(default_factory=lambda: [0.9, 1.0])  # some factors
    name: str | None = None  # an optional name


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)  # a section
    lr: float = 1e-3  # learning rate
    flag: bool = False  # a switch


def test_defaults_files_and_overrides_apply_in_order(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("inner:\n  size: 5\nlr: 0.5\n")
    cfg = load_config(Outer, [f], ["lr=0.25", "inner.factors=[1, 2]", "flag=true"])
    assert cfg.inner.size == 5
    assert cfg.lr == 0.25
    assert cfg.inner.factors == [1.0, 2.0]
    assert cfg.flag is True
    assert cfg.inner.name is None


def test_yaml_round_trip_with_comments():
    cfg = load_config(Outer, overrides=["inner.name=abc"])
    text = to_yaml(cfg)
    assert "# learning rate" in text and "# a size" in text
    import yaml

    assert from_dict(Outer, yaml.safe_load(text)) == cfg
    assert to_dict(cfg)["inner"]["name"] == "abc"


@pytest.mark.parametrize("override, message", [
    ("inner.sise=3", "unknown option"),
    ("inner.size=abc", "expected an integer"),
    ("flag=maybe", "expected true/false"),
    ("lr", "expected key.sub=value"),
])
def test_bad_overrides_name_the_option(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Outer, overrides=[override])


def test_bad_yaml_file_is_named(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("lr: [1\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(Outer, [f])
