"""Bytes -> validated event, in one place per input; failures become dead letters."""
from __future__ import annotations

import base64
import json
import time
from functools import lru_cache
from pathlib import Path

import fastjsonschema
import orjson

from streams.core.errors import DecodeError
from streams.core.records import RECORDS, SCHEMA_VERSION, DeadLetter, Record
from streams.core.render import normalise_text

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


@lru_cache(maxsize=None)
def schema(event: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{event}.{SCHEMA_VERSION}.json").read_text("utf-8"))


@lru_cache(maxsize=None)
def validator(event: str):
    return fastjsonschema.compile(schema(event))


def _text_fields(node: dict) -> list:
    """How to normalise a schema's free-text strings and coerce its integers: [(field, kind, sub)] where kind is
    'text' (sub: maxLength), 'int', 'object' or 'array' (sub: the nested plan)."""
    plan = []
    for name, prop in node.get("properties", {}).items():
        kinds = prop.get("type")
        kinds = set(kinds) if isinstance(kinds, list) else {kinds}
        if "integer" in kinds:
            plan.append((name, "int", None))
        elif "string" in kinds and "pattern" not in prop and "enum" not in prop:
            plan.append((name, "text", prop.get("maxLength")))
        elif "object" in kinds and (sub := _text_fields(prop)):
            plan.append((name, "object", sub))
        elif "array" in kinds and isinstance(prop.get("items"), dict):
            item = prop["items"]
            if item.get("type") == "integer":
                plan.append((name, "array", "int"))
            elif item.get("type") == "string" and "pattern" not in item:
                plan.append((name, "array", ("text", item.get("maxLength"))))
            elif item.get("type") == "object" and (sub := _text_fields(item)):
                plan.append((name, "array", sub))
    return plan


@lru_cache(maxsize=None)
def _plan(event: str) -> list:
    return _text_fields(schema(event))


def _apply_plan(record: dict, plan: list, where: str, normalise: bool) -> None:
    """In place: JSON Schema's `integer` accepts 1.0; the code after it expects an int. Free text normalised (its
    bound checked again: NFKC can lengthen a string)."""
    for name, kind, sub in plan:
        if name not in record:
            continue
        value = record[name]
        if kind == "int":
            if isinstance(value, float):
                record[name] = int(value)
        elif kind == "text":
            if normalise:
                record[name] = _text(value, sub, f"{where}{name}")
        elif kind == "object":
            _apply_plan(value, sub, f"{where}{name}.", normalise)
        elif sub == "int":
            record[name] = [int(v) if isinstance(v, float) else v for v in value]
        elif isinstance(sub, tuple):
            if normalise:  # an item that normalises to nothing is dropped (an empty keyword would match every call)
                record[name] = [t for t in (_text(v, sub[1], f"{where}{name}[]") for v in value) if t]
        else:
            for item in value:
                _apply_plan(item, sub, f"{where}{name}[].", normalise)


def _text(value: str, max_length: int | None, where: str) -> str:
    text = normalise_text(value)
    if max_length is not None and len(text) > max_length:
        raise DecodeError("schema", f"{where}: longer than {max_length} characters after NFKC normalisation")
    return text


def _keys(value, found: set) -> set:
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(key)
            _keys(item, found)
    elif isinstance(value, list):
        for item in value:
            _keys(item, found)
    return found


def _no_duplicates(pairs: list) -> dict:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise DecodeError("duplicate_key", f"key {duplicate!r} occurs more than once in one object")
    return record


def check_duplicate_keys(raw: bytes, text: str, record) -> None:
    """orjson keeps the last of duplicate keys. The exact check (the stdlib's C parser, each object's pairs seen by a
    hook: ~12 µs a segment) runs only when a fast pre-check cannot rule duplicates out: without a backslash in the
    bytes every key is written literally, so a key that occurs twice makes its quoted form occur twice."""
    if b"\\" not in raw and all(raw.count(b'"%s"' % k.encode()) == 1 for k in _keys(record, set())):
        return
    json.loads(text, object_pairs_hook=_no_duplicates)


def decode(raw: bytes | None, event: str | dict[str, str], normalise: bool = False) -> Record:
    """Decode and validate `raw` into its typed record (streams.core.records). `event` is a schema name, or a map
    from the record's `type` to a schema name.
    Duplicate keys are refused; integers sent as 1.0 become ints; with `normalise` (the worker's inputs, at the edge)
    free text is normalised (normalise_text): NFKC, no control or zero-width characters."""
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
    check_duplicate_keys(raw, text, record)
    if isinstance(event, dict):
        kind = record.get("type") if isinstance(record, dict) else None
        if not isinstance(kind, str) or kind not in event:  # a list or an object is not hashable
            raise DecodeError("schema", f"unknown event type {str(kind)[:100]!r}; expected one of {sorted(event)}")
        event = event[kind]
    try:
        record = validator(event)(record)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise DecodeError("schema", f"{event}: {exc.message}") from exc
    _apply_plan(record, _plan(event), "", normalise)
    return RECORDS[event].from_dict(record)


def encode(record: Record | dict) -> bytes:
    return orjson.dumps(record.to_dict() if isinstance(record, Record) else record)


def now_ms() -> int:
    return int(time.time() * 1000)


KEY_HEAD_BYTES = 16 * 1024  # keys are ids; a longer one keeps its head (key_bytes: the full length)


def dead_letter(raw: bytes | None, key: bytes | None, topic: str, partition: int, offset: int, reason: str, detail: str,
                max_bytes: int = 256 * 1024) -> DeadLetter:
    """The input's position is its idempotency key: a record redelivered after a crash is dead-lettered again, alike.
    Values over `max_bytes` keep their head (the whole record stays in the source topic at its offset): a 1 MB input
    would otherwise make a dead letter larger than the broker accepts."""
    value = raw or b""
    key_head = min(max_bytes, KEY_HEAD_BYTES)
    return DeadLetter(
        idempotency_key=f"{topic}:{partition}:{offset}",
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        key_b64=base64.b64encode(key[:key_head]).decode() if key is not None else None,
        key_bytes=len(key) if key is not None else 0,
        value_b64=base64.b64encode(value[:max_bytes]).decode(),
        value_bytes=len(value),
        reason=reason,
        detail=detail[:1000],
        produced_at=now_ms(),
    )
