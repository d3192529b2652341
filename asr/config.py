"""Configuration: nested dataclasses read from YAML, overridden from the command line.

Every configurable part of the toolkit is a dataclass whose fields carry a
one-line trailing comment. This module turns such a dataclass into YAML (with
those comments, for ``--print-config``), reads YAML back with type checks, and
applies ``section.field=value`` overrides. The resolved configuration is stored
in every checkpoint, so a checkpoint alone rebuilds its model and frontend.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from asr.errors import AsrError

T = TypeVar("T")


class ConfigError(AsrError):
    """A configuration file or override that does not fit the dataclass."""


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict of a dataclass instance (YAML/JSON/checkpoint friendly)."""
    return dataclasses.asdict(cfg)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert ``value`` (from YAML) to the annotated type ``tp`` or raise ConfigError."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, where)
    if tp is Any:
        return value
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if isinstance(value, str):
            value = [v for v in re.split(r"[,\s]+", value.strip()) if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or tp is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from a (possibly partial) nested dict; missing keys keep defaults.

    Raises:
        ConfigError: on an unknown key or a value of the wrong type, naming its path.
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from e


def _set_path(d: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
        if not isinstance(d, dict):
            raise ConfigError(f"override {path}: {k} is not a section")
    d[keys[-1]] = value


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``update`` into a copy of ``base``."""
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def load_config(cls: type[T], yaml_files: Sequence[str | Path] = (), overrides: Sequence[str] = (),
                base: dict[str, Any] | None = None) -> T:
    """Resolve a config: defaults <- ``base`` <- each YAML file <- ``key.sub=value`` overrides.

    Args:
        cls: the top-level dataclass.
        yaml_files: YAML files applied in order.
        overrides: strings ``a.b.c=value``; the value is parsed as YAML (``true``, ``3``, ``[1, 2]``).
        base: a dict applied before the files (e.g. a config stored in a checkpoint).
    """
    data: dict[str, Any] = dict(base or {})
    for f in yaml_files:
        try:
            loaded = yaml.safe_load(Path(f).read_text()) or {}
        except FileNotFoundError as e:
            raise ConfigError(f"{f}: config file not found") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"{f}: not valid YAML: {e}") from e
        if not isinstance(loaded, dict):
            raise ConfigError(f"{f}: top level must be a mapping")
        data = merge(data, loaded)
    for o in overrides:
        if "=" not in o:
            raise ConfigError(f"override {o!r}: expected key.sub=value")
        key, raw = o.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        _set_path(data, key.strip(), value)
    return from_dict(cls, data)


def _field_comments(cls: type) -> dict[str, str]:
    """Trailing ``# comment`` of each field in the dataclass source, if the source is available."""
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    out = {}
    for m in re.finditer(r"^\s+(\w+)\s*:[^\n#]*#\s*(.+)$", src, flags=re.M):
        out.setdefault(m.group(1), m.group(2).strip())
    return out


def to_yaml(cfg: Any, comments: bool = True) -> str:
    """YAML text of a dataclass instance; with ``comments``, each field's one-line comment."""
    lines: list[str] = []

    def emit(obj: Any, indent: int) -> None:
        notes = _field_comments(type(obj)) if comments else {}
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            pad = " " * indent
            if dataclasses.is_dataclass(v):
                note = f"  # {notes[f.name]}" if f.name in notes else ""
                lines.append(f"{pad}{f.name}:{note}")
                emit(v, indent + 2)
                continue
            if isinstance(v, tuple):
                v = list(v)
            text = yaml.safe_dump(v, default_flow_style=True, width=1000).strip()
            if text.endswith("\n..."):
                text = text[: -len("\n...")]
            text = text.removesuffix("...").strip()
            note = f"  # {notes[f.name]}" if f.name in notes else ""
            lines.append(f"{pad}{f.name}: {text}{note}")

    emit(cfg, 0)
    return "\n".join(lines) + "\n"
