"""Bytes -> validated event, in one place per input; failures become dead letters."""
from __future__ import annotations

import base64
import json
import time
from functools import lru_cache
from pathlib import Path

import fastjsonschema
import orjson

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


class CallqaError(Exception):
    """Base of callqa's own errors."""


class DecodeError(CallqaError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@lru_cache(maxsize=None)
def validator(event: str):
    return fastjsonschema.compile(json.loads((SCHEMA_DIR / f"{event}.v1.json").read_text("utf-8")))


def decode(raw: bytes | None, event: str | dict[str, str]) -> dict:
    """Decode and validate `raw`. `event` is a schema name, or a map from the record's `type` to a schema name."""
    if raw is None:
        raise DecodeError("invalid_json", "empty record (tombstone)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("invalid_utf8", str(exc)) from exc
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("invalid_json", str(exc)) from exc
    if isinstance(event, dict):
        kind = record.get("type") if isinstance(record, dict) else None
        if kind not in event:
            raise DecodeError("schema", f"unknown event type {kind!r}; expected one of {sorted(event)}")
        event = event[kind]
    try:
        return validator(event)(record)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise DecodeError("schema", f"{event}: {exc.message}") from exc


def encode(record: dict) -> bytes:
    return orjson.dumps(record)


def now_ms() -> int:
    return int(time.time() * 1000)


def dead_letter(raw: bytes | None, key: bytes | None, topic: str, partition: int, offset: int, reason: str, detail: str,
                max_bytes: int = 256 * 1024) -> dict:
    """The input's position is its idempotency key: a record redelivered after a crash is dead-lettered again, alike.
    Values over `max_bytes` keep their head (the whole record stays in the source topic at its offset): a 1 MB input
    would otherwise make a dead letter larger than the broker accepts."""
    value = raw or b""
    return {
        "idempotency_key": f"{topic}:{partition}:{offset}",
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "key_b64": base64.b64encode(key[:max_bytes]).decode() if key is not None else None,
        "value_b64": base64.b64encode(value[:max_bytes]).decode(),
        "value_bytes": len(value),
        "reason": reason,
        "detail": detail[:1000],
        "produced_at": now_ms(),
    }
