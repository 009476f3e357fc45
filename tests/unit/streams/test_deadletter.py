"""The one loop every input agent runs: no exception escapes it, every failure is a dead letter with its reason."""
from types import SimpleNamespace
from unittest.mock import AsyncMock

import orjson
import pytest

pytest.importorskip("faust")
from streams import deadletter  # noqa: E402

SEGMENT = {"type": "segment", "call_id": "c1", "user_id": "u1", "seq": 0, "speaker": "customer", "text": "你好",
           "start_ms": 0, "end_ms": 900, "event_time": 1767225600000}
EVENTS = {"segment": "segment"}


def event(value, key=b"c1", offset=0, headers=None):
    return SimpleNamespace(message=SimpleNamespace(value=value, key=key, topic="callqa.transcript.v1", partition=0,
                                                   offset=offset, headers=headers or []))


async def events(items):
    for item in items:
        yield item


async def run(items, handle, **kw):
    sent = AsyncMock()
    deadletter.dead_letter_topic.send = sent  # the module's topic handle; restored by monkeypatch below
    await deadletter.each_record(None, EVENTS, handle, stream_events=events(items), **kw)
    return [orjson.loads(call.kwargs["value"]) for call in sent.await_args_list]


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    monkeypatch.setattr(deadletter.dead_letter_topic, "send", deadletter.dead_letter_topic.send)


async def _boom(_, record):
    raise RuntimeError("unexpected")


@pytest.mark.asyncio
async def test_every_failure_is_a_dead_letter_and_the_stream_goes_on():
    handled = []

    async def handle(_, record):
        if record["seq"] == 3:
            raise ValueError("invalid literal for int()")
        handled.append(record["seq"])

    items = [event(orjson.dumps(SEGMENT)), event(orjson.dumps({**SEGMENT, "seq": 3}), offset=1),
             event(orjson.dumps(SEGMENT), key=b"c2", offset=2), event(orjson.dumps(SEGMENT), key=None, offset=3),
             event(b'{"type":"segment","type":"segment"}', offset=4), event(None, offset=5),
             event(orjson.dumps({**SEGMENT, "seq": 4}), offset=6)]
    dead = await run(items, handle, key_field="call_id")
    assert handled == [0, 4]
    assert [(d["source_offset"], d["reason"]) for d in dead] == [
        (1, "internal_error"), (2, "key_mismatch"), (3, "key_mismatch"), (4, "duplicate_key"), (5, "invalid_json")]


@pytest.mark.asyncio
async def test_a_tombstone_goes_to_its_handler_with_its_key():
    deleted = []

    async def delete(_, key):
        deleted.append(key)

    dead = await run([event(None, key=b"u-1"), event(None, key=None, offset=1), event(None, key=b"\xff", offset=2)],
                     _boom, on_tombstone=delete)
    assert deleted == ["u-1"] and [d["reason"] for d in dead] == ["invalid_json", "invalid_utf8"]


@pytest.mark.asyncio
async def test_a_forwarded_record_is_dead_lettered_at_its_origin():
    forwarded = event(orjson.dumps(SEGMENT), headers=[(deadletter.ORIGIN_HEADER, b"callqa.transcript.v1:3:77")])
    forwarded.message.topic = "callqa-worker-transcript-repartition"
    dead = await run([forwarded], _boom, key_field="call_id")
    assert (dead[0]["source_topic"], dead[0]["source_partition"], dead[0]["source_offset"]) == ("callqa.transcript.v1", 3, 77)
    assert dead[0]["idempotency_key"] == "callqa.transcript.v1:3:77"
