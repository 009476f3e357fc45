"""Stage configs are frozen dataclasses; `--key=value` overrides them, unknown keys and bad types are errors."""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def override(config: T, args: list[str]) -> T:
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    for arg in args:
        if not arg.startswith("--") or "=" not in arg:
            raise ValueError(f"expected --key=value, got {arg!r}")
        key, value = arg[2:].split("=", 1)
        key = key.replace("-", "_")
        if key not in fields:
            raise ValueError(f"unknown key {key!r}; known: {', '.join(sorted(fields))}")
        current = getattr(config, key)
        if isinstance(current, bool):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"{key} takes true or false, got {value!r}")
            changes[key] = value.lower() in ("true", "1")
        elif isinstance(current, tuple):
            changes[key] = tuple(type(current[0])(v) for v in value.split(",")) if current else tuple(value.split(","))
        else:
            try:
                changes[key] = type(current)(value)
            except ValueError as exc:
                raise ValueError(f"{key} takes a {type(current).__name__}, got {value!r}") from exc
    return dataclasses.replace(config, **changes)
