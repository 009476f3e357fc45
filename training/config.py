"""Stage configs are frozen dataclasses; `--key=value` overrides them, unknown keys and bad types are errors."""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What every stage that trains (pretrain, transfer, finetune) has: its start and output folders, the step loop and
    optimizer (training.loop), seed and threads. The fields without a default differ by stage: each stage redeclares
    them with its own (they keep their place here, so `asdict` lists these first); its other fields come after."""
    init_dir: str
    out_dir: str
    steps: int
    batch_size: int
    lr: float
    eval_every: int
    patience: int  # evaluations without gain before stopping
    weight_decay: float = 0.01
    bf16: bool = True  # training.loop.autocast
    seed: int = 13
    threads: int = 2


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
