"""The one loop every input agent runs: no exception escapes it, every failure is a dead letter with its reason."""
from types import SimpleNamespace
from unittest.mock import AsyncMock

import orjson
import pytest

pytest.importorskip("faust")
from streams.core.settings import Settings  # noqa: E402
from streams.worker.deadletter import ORIGIN_HEADER, DeadLetters, home_partition  # noqa: E402

SETTINGS = Settings()

SEGMENT = {"type": "segment", "call_id": "c1", "user_id": "u1", "seq": 0, "speaker": "customer", "text": "你好",
           "start_ms": 0, "end_ms": 900, "event_time": 1767225600000}
EVENTS = {"segment": "segment"}


def event(value, key=b"c1", offset=0, headers=None):
    return SimpleNamespace(message=SimpleNamespace(value=value, key=key, topic="callqa.transcript.v1", partition=0,
                                                   offset=offset, headers=headers or []))


async def events(items):
    for item in items:
        yield item


async def run(items, handle, forward=None, **kw):
    """The loop with the dead-letter and repartition topics' send recorded (no broker in a unit test)."""
    sent = AsyncMock()
    dead_letters = DeadLetters(SETTINGS, SimpleNamespace(send=sent), {"transcript": SimpleNamespace(send=forward or AsyncMock())})
    await dead_letters.each_record(None, EVENTS, handle, stream_events=events(items), **kw)
    return [orjson.loads(call.kwargs["value"]) for call in sent.await_args_list]


async def _boom(_, record):
    raise RuntimeError("unexpected")


@pytest.mark.asyncio
async def test_every_failure_is_a_dead_letter_and_the_stream_goes_on():
    handled = []

    async def handle(_, record):
        if record.seq == 3:
            raise ValueError("invalid literal for int()")
        handled.append(record.seq)

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
    forwarded = event(orjson.dumps(SEGMENT), headers=[(ORIGIN_HEADER, b"callqa.transcript.v1:3:77")])
    forwarded.message.topic = "callqa-worker-transcript-repartition"
    # the same header on an input topic, or a malformed one, is not believed
    forged = event(orjson.dumps(SEGMENT), offset=8, headers=[(ORIGIN_HEADER, b"callqa.transcript.v1:3:77")])
    garbled = event(orjson.dumps(SEGMENT), offset=9, headers=[(ORIGIN_HEADER, b"\xff:x")])
    garbled.message.topic = "callqa-worker-transcript-repartition"
    dead = await run([forwarded, forged, garbled], _boom, key_field="call_id")
    assert (dead[0]["source_topic"], dead[0]["source_partition"], dead[0]["source_offset"]) == ("callqa.transcript.v1", 3, 77)
    assert dead[0]["idempotency_key"] == "callqa.transcript.v1:3:77"
    assert [d["idempotency_key"] for d in dead[1:]] == ["callqa.transcript.v1:0:8", "callqa-worker-transcript-repartition:0:9"]


@pytest.mark.asyncio
async def test_a_record_off_its_murmur2_partition_is_forwarded():
    """Issue 17: a producer with another partitioner (librdkafka's consistent_random) put keys where the joins do not
    look; such records go through the worker's own repartition topic, at their murmur2 partition."""
    forward = AsyncMock()
    home = home_partition(b"c1", SETTINGS.partitions)
    handled = []

    async def handle(event_, record):
        handled.append(event_.message.partition)

    away, at_home = event(orjson.dumps(SEGMENT), offset=5), event(orjson.dumps(SEGMENT), offset=6)
    away.message.partition, at_home.message.partition = (home + 1) % SETTINGS.partitions, home
    dead = await run([away, at_home], handle, forward, key_field="call_id", repartition="transcript")
    assert dead == [] and handled == [home]
    sent = forward.await_args.kwargs
    assert sent["partition"] == home and sent["key"] == b"c1" and sent["value"] == orjson.dumps(SEGMENT)
    assert sent["headers"] == [(ORIGIN_HEADER, f"callqa.transcript.v1:{away.message.partition}:5".encode())]
