"""Producing event files onto their topics: state records at once, transcripts paced by their event times."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import orjson
from confluent_kafka import Producer

from streams.core.kafka import kafka_config
from streams.core.settings import Settings

log = logging.getLogger(__name__)
UNREADABLE_KEY = b"unreadable"
KEY_FIELD = {"transcript": "call_id", "account": "user_id", "label": "label_id", "rule": "rule_id", "human_label": "call_id"}


def producer(settings: Settings) -> Producer:
    # murmur2 is the Java client's (and aiokafka's) partitioner: keys land where the co-partitioned tables expect them.
    return Producer({**kafka_config(settings), "partitioner": "murmur2_random", "linger.ms": 5,
                     "enable.idempotence": True, "acks": "all"})


def read_lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def key_of(line: bytes, key_field: str) -> bytes:
    """The record's key field; malformed lines are still sent, under UNREADABLE_KEY, so that they end as dead letters
    (compacted topics refuse records without a key)."""
    try:
        value = orjson.loads(line).get(key_field)
        return str(value).encode() if value is not None else UNREADABLE_KEY
    except (orjson.JSONDecodeError, AttributeError):
        return UNREADABLE_KEY


def publish(settings: Settings, event: str, path: Path) -> int:
    """Send every line of `path` to the event's topic as fast as the broker takes them."""
    out = producer(settings)
    lines = read_lines(path)
    for line in lines:
        out.produce(settings.topic(event), value=line, key=key_of(line, KEY_FIELD[event]))
        out.poll(0)
    if out.flush(30):
        raise RuntimeError(f"{len(out)} records to {settings.topic(event)} were not delivered")
    return len(lines)


def replay(settings: Settings, path: Path, rate: float, on_progress: Callable[[int, int], None] | None = None) -> int:
    """Send transcript events in event-time order, `rate` times faster than they happened (0: no pacing)."""
    lines = read_lines(path)
    timed = []
    for line in lines:
        try:
            timed.append((int(orjson.loads(line)["event_time"]), line))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            timed.append((None, line))  # sent in place; it will end as a dead letter
    out, topic = producer(settings), settings.topic("transcript")
    first = next((t for t, _ in timed if t is not None), 0)
    started = time.monotonic()
    for sent, (event_time, line) in enumerate(timed, 1):
        if rate > 0 and event_time is not None:
            wait = (event_time - first) / 1000 / rate - (time.monotonic() - started)
            if wait > 0:
                out.poll(0)
                time.sleep(wait)
        out.produce(topic, value=line, key=key_of(line, "call_id"))
        out.poll(0)
        if on_progress and (sent % 200 == 0 or sent == len(timed)):
            on_progress(sent, len(timed))
    if out.flush(30):
        raise RuntimeError(f"{len(out)} transcript events were not delivered")
    return len(timed)
