import base64
import json
from pathlib import Path

import pytest

from streams.codec import SCHEMA_DIR, DecodeError, dead_letter, decode, validator

TRANSCRIPT = {"call_start": "call_start", "segment": "segment", "call_end": "call_end"}
SEGMENT = {"type": "segment", "call_id": "c1", "user_id": "u1", "seq": 0, "speaker": "customer", "text": "你好",
           "start_ms": 0, "end_ms": 900, "event_time": 1767225600000}


def test_valid_segment():
    assert decode(json.dumps(SEGMENT, ensure_ascii=False).encode(), TRANSCRIPT)["text"] == "你好"


@pytest.mark.parametrize("raw,reason", [
    (b"{not json", "invalid_json"),
    (b"\xff\xfe", "invalid_utf8"),
    (None, "invalid_json"),
    (json.dumps({**SEGMENT, "type": "hello"}).encode(), "schema"),
    (json.dumps({**SEGMENT, "seq": -1}).encode(), "schema"),
    (json.dumps({**SEGMENT, "text": ""}).encode(), "schema"),
    (json.dumps({**SEGMENT, "extra": 1}).encode(), "schema"),
    (json.dumps({k: v for k, v in SEGMENT.items() if k != "speaker"}).encode(), "schema"),
    (b"[1, 2]", "schema"),
])
def test_bad_input_has_a_reason(raw, reason):
    with pytest.raises(DecodeError) as exc:
        decode(raw, TRANSCRIPT)
    assert exc.value.reason == reason


def test_dead_letter_keeps_original_bytes():
    record = dead_letter(b"\xff raw", b"key", "callqa.transcript.v1", 2, 41, "invalid_utf8", "detail")
    validator("dead_letter")(record)
    assert base64.b64decode(record["value_b64"]) == b"\xff raw" and record["source_offset"] == 41
    assert record["idempotency_key"] == "callqa.transcript.v1:2:41" and record["value_bytes"] == 5


def test_dead_letter_of_a_huge_record_keeps_its_head():
    raw = b"x" * 1_000_000
    record = dead_letter(raw, b"key", "callqa.transcript.v1", 0, 7, "schema", "too long", max_bytes=1000)
    assert base64.b64decode(record["value_b64"]) == raw[:1000] and record["value_bytes"] == len(raw)


@pytest.mark.parametrize("schema", sorted(p.name.removesuffix(".v1.json") for p in SCHEMA_DIR.glob("*.v1.json")))
def test_every_schema_has_a_valid_example(schema):
    example = json.loads((SCHEMA_DIR / "examples" / f"{schema}.v1.json").read_text(encoding="utf-8"))
    validator(schema)(example)
