import base64
import dataclasses
import json

import pytest

from streams.core import codec
from streams.core.codec import SCHEMA_DIR, dead_letter, decode, validator
from streams.core.errors import DecodeError
from streams.core.records import RECORDS
from streams.core.render import has_words, normalise_text

TRANSCRIPT = {"call_start": "call_start", "segment": "segment", "call_end": "call_end"}
SEGMENT = {"type": "segment", "call_id": "c1", "user_id": "u1", "seq": 0, "speaker": "customer", "text": "你好",
           "start_ms": 0, "end_ms": 900, "event_time": 1767225600000}


def test_valid_segment():
    assert decode(json.dumps(SEGMENT, ensure_ascii=False).encode(), TRANSCRIPT).text == "你好"


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
    validator("dead_letter")(record.to_dict())
    assert base64.b64decode(record.value_b64) == b"\xff raw" and record.source_offset == 41
    assert record.idempotency_key == "callqa.transcript.v1:2:41" and record.value_bytes == 5


def test_dead_letter_of_a_huge_record_keeps_its_head():
    raw = b"x" * 1_000_000
    record = dead_letter(raw, b"key", "callqa.transcript.v1", 0, 7, "schema", "too long", max_bytes=1000)
    assert base64.b64decode(record.value_b64) == raw[:1000] and record.value_bytes == len(raw)


@pytest.mark.parametrize("schema", sorted(p.name.removesuffix(".v1.json") for p in SCHEMA_DIR.glob("*.v1.json")))
def test_every_schema_has_a_valid_example(schema):
    example = json.loads((SCHEMA_DIR / "examples" / f"{schema}.v1.json").read_text(encoding="utf-8"))
    validator(schema)(example)


def test_integers_sent_as_floats_become_ints():
    """JSON Schema's integer accepts 1.0; the assembly used str(seq) and range(segment_count) on it (issue 17)."""
    record = decode(json.dumps({**SEGMENT, "seq": 1.0, "start_ms": 0.0, "end_ms": 9e2}).encode(), TRANSCRIPT)
    assert record.seq == 1 and type(record.seq) is int and type(record.end_ms) is int
    end = decode(b'{"type":"call_end","call_id":"c1","user_id":"u1","segment_count":1.0,"event_time":1767225600000.0}',
                 TRANSCRIPT)
    assert type(end.segment_count) is int and type(end.event_time) is int
    ready = decode(json.dumps({"call_id": "c", "user_id": "u", "final": True, "turns": [], "segment_count": 2.0,
                               "missing_seqs": [1.0], "has_human_label": False, "trigger_ts": 0, "ready_ts": 0}).encode(),
                   "call_ready")
    assert ready.missing_seqs == [1] and type(ready.missing_seqs[0]) is int


@pytest.mark.parametrize("raw", [
    b'{"type":"segment","call_id":"a","user_id":"u1","seq":0,"speaker":"customer","text":"x","start_ms":0,"end_ms":1,'
    b'"event_time":0,"call_id":"b"}',
    b'{"type":"segment","call\\u005fid":"a","call_id":"b","user_id":"u1","seq":0,"speaker":"customer","text":"x",'
    b'"start_ms":0,"end_ms":1,"event_time":0}',  # the same key written with an escape
    b'{"user_id":"u1","balance_yuan":1,"plan_name":"p","plan_fee_yuan":1,"data_allowance":"1G","updated_at":0,'
    b'"plan_name":"q"}',
])
def test_duplicate_keys_are_refused(raw):
    event = "account" if b"balance" in raw else TRANSCRIPT
    with pytest.raises(DecodeError) as exc:
        decode(raw, event)
    assert exc.value.reason == "duplicate_key"


def test_a_key_repeated_as_a_value_or_in_another_object_is_no_duplicate():
    raw = json.dumps({"call_id": "c1", "labels": {"product": "p.x"}, "summary": "call_id \"call_id\"",
                      "event_time": 0}).encode()
    assert decode(raw, "human_label").call_id == "c1"


@pytest.mark.parametrize("kind", [[1], {"a": 1}, None, 3])
def test_an_unhashable_event_type_is_a_schema_error(kind):
    with pytest.raises(DecodeError) as exc:
        decode(json.dumps({**SEGMENT, "type": kind}).encode(), TRANSCRIPT)
    assert exc.value.reason == "schema"


def test_text_is_normalised_at_the_edge():
    raw = json.dumps({**SEGMENT, "text": "\u200b我要\u200d投诉\x07\t１３８１２３４５６７８\ufeff "}, ensure_ascii=False).encode()
    assert decode(raw, TRANSCRIPT, normalise=True).text == "我要投诉 13812345678"
    assert decode(raw, TRANSCRIPT).text != "我要投诉 13812345678"  # the worker's own topics are kept as they are
    assert normalise_text("\u200b\u200c\x00 \u3000") == "" and not has_words("😀！？") and has_words("a")


def test_text_that_nfkc_makes_too_long_is_a_schema_error():
    raw = json.dumps({**SEGMENT, "text": "\ufdfa" * 1000}, ensure_ascii=False).encode()  # 18 characters each in NFKC
    with pytest.raises(DecodeError) as exc:
        decode(raw, TRANSCRIPT, normalise=True)
    assert exc.value.reason == "schema" and "NFKC" in exc.value.detail


def test_dead_letter_of_a_huge_key_keeps_its_head():
    record = dead_letter(b"v", b"k" * 900_000, "callqa.transcript.v1", 0, 7, "schema", "x")
    validator("dead_letter")(record.to_dict())
    assert len(base64.b64decode(record.key_b64)) == 16 * 1024 and record.key_bytes == 900_000


@pytest.mark.parametrize("schema", sorted(p.name.removesuffix(".v1.json") for p in SCHEMA_DIR.glob("*.v1.json")))
def test_every_schema_has_its_typed_record(schema):
    """The schemas are the one source of truth: each record declares exactly its schema's fields, required ones
    without a default, and an example decodes into it and back unchanged."""
    cls = RECORDS[schema]
    declared = {f.name: f for f in dataclasses.fields(cls)}
    properties, required = codec.schema(schema)["properties"], codec.schema(schema).get("required", [])
    assert list(declared) == list(properties)
    assert {n for n, f in declared.items() if f.default is dataclasses.MISSING} <= set(required)
    example = (SCHEMA_DIR / "examples" / f"{schema}.v1.json").read_bytes()
    record = decode(example, schema)
    assert isinstance(record, cls) and record.to_dict() == json.loads(example)


def test_every_dead_letter_reason_the_code_gives_is_in_the_schema():
    """A reason missing from dead_letter.v1's enum would make the worker's dead letters invalid for every reader."""
    import re

    root = SCHEMA_DIR.parent / "streams"
    given = set()
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        given |= set(re.findall(r'DecodeError\(\s*"([a-z_]+)"', text))
        given |= set(re.findall(r'dead_letters\.send\([^,]+,\s*"([a-z_]+)"', text))
        given |= set(re.findall(r'return state, (?:None|"[a-z]+"), "([a-z_]+)"', text))
        given |= set(re.findall(r'(?:rejected|dead)\.append\(\([^,]+, "([a-z_]+)"', text))  # the attribution's rejected calls
    assert {"unknown_task", "rule_invalid", "call_too_large", "no_candidates"} <= given
    assert given <= set(json.loads((SCHEMA_DIR / "dead_letter.v1.json").read_text())["properties"]["reason"]["enum"])
