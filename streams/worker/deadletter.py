"""Dead letters: the original bytes, where they came from and why they were not processed; and the one loop every
input agent runs its records through, so that no exception escapes an agent (faust would ack the event: lost)."""
from __future__ import annotations

import logging
from typing import Awaitable, Callable

from aiokafka.partitioner import murmur2

from streams.core.codec import dead_letter, decode, encode
from streams.core.errors import DecodeError
from streams.core.records import Record
from streams.core.settings import Settings
from streams.core.topics import REPARTITIONED, repartition_topic

log = logging.getLogger(__name__)
ORIGIN_HEADER = "callqa-origin"  # on records the worker forwards through its own repartition topics
DEAD_LETTER_KEY_BYTES = 1024  # a hostile 900 KB key must not make a dead letter larger than the broker accepts
Handler = Callable[[object, Record], Awaitable[None]]


def _headers(message) -> list:
    headers = getattr(message, "headers", None) or []
    return list(headers.items()) if hasattr(headers, "items") else list(headers)


def key_matches(message, record: Record, key_field: str | None) -> None:
    """The Kafka key must be the record's own id: state is kept, and co-partitioned, by it."""
    if key_field is None:
        return
    expected = getattr(record, key_field)
    if message.key != expected.encode():
        shown = "no key" if message.key is None else f"key {message.key[:100]!r}"
        raise DecodeError("key_mismatch", f"{shown}, but {key_field} {expected!r}")


def tombstone_key(message) -> str:
    """The id a tombstone (null value) deletes; a tombstone without a readable id is a dead letter."""
    try:
        key = message.key.decode("utf-8") if message.key is not None else ""
    except UnicodeDecodeError as exc:
        raise DecodeError("invalid_utf8", f"tombstone key: {exc}") from exc
    if not key or len(key) > 128:
        raise DecodeError("invalid_json", "tombstone (no value) without a usable key")
    return key


def home_partition(key: bytes, partitions: int) -> int:
    """The partition murmur2 (the Java client's, aiokafka's, the worker's own producer's) gives `key`."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class DeadLetters:
    """The worker's dead-letter topic and the loop that sends to it."""

    def __init__(self, settings: Settings, topic, repartition_topics: dict) -> None:
        self.settings, self.topic, self.repartition_topics = settings, topic, repartition_topics
        self.repartition_topic_names = {repartition_topic(settings, event) for event in REPARTITIONED}

    def origin(self, message) -> tuple[str, int, int]:
        """Where the record first came in: its own position, or, read from the worker's own repartition topic, the one
        its header names (a producer's header of that name on an input topic is not believed)."""
        if message.topic in self.repartition_topic_names:
            for name, value in _headers(message):
                if name == ORIGIN_HEADER and value:
                    try:
                        topic, partition, offset = value.decode().rsplit(":", 2)
                        return topic, int(partition), int(offset)
                    except (UnicodeDecodeError, ValueError):
                        break
        return message.topic, message.partition, message.offset

    async def send(self, message, reason: str, detail: str) -> None:
        """`message` is the faust Message whose record could not be processed."""
        topic, partition, offset = self.origin(message)
        log.warning("dead letter %s[%s]@%s: %s %s", topic, partition, offset, reason, detail[:200])
        record = dead_letter(message.value, message.key, topic, partition, offset, reason, detail,
                             self.settings.dead_letter_max_bytes)
        key = message.key[:DEAD_LETTER_KEY_BYTES] if message.key is not None else None
        await self.topic.send(key=key, value=encode(record))

    async def forwarded(self, message, event: str) -> bool:
        """Forward a record of an input topic that is not on its key's murmur2 partition to the worker's repartition
        topic of that input, at that partition, naming where it came in (ORIGIN_HEADER); True when it was."""
        if event not in self.repartition_topics or message.topic != self.settings.topic(event) or message.key is None:
            return False
        partition = home_partition(message.key, self.settings.partitions)
        if message.partition == partition:
            return False
        await self.repartition_topics[event].send(key=message.key, value=message.value, partition=partition,
                                                  headers=[(ORIGIN_HEADER, f"{message.topic}:{message.partition}:{message.offset}".encode())])
        return True

    async def each_record(self, stream, event, handle: Handler, key_field: str | None = None,
                          on_tombstone: Callable[[object, str], Awaitable[None]] | None = None,
                          normalise: bool = True, stream_events=None, repartition: str | None = None) -> None:
        """Decode each record of `stream` as `event` (codec.decode), check its key, and `await handle(event_, record)`.
        A record that does not decode, whose key is not its id, or whose handling raises is a dead letter (reason, or
        `internal_error` with the exception); the stream goes on. `on_tombstone(event_, key)` takes null values when
        given (compacted topics: a tombstone deletes its key). Free text is normalised (the inputs' edge) unless
        `normalise` is false (the worker's own topics). With `repartition` (an input's event name), a valid record that
        is not on its key's murmur2 partition is forwarded to the worker's repartition topic and handled from there."""
        async for event_ in (stream_events if stream_events is not None else stream.events()):
            message = event_.message
            try:
                if message.value is None and on_tombstone is not None:
                    key = tombstone_key(message)
                    if not (repartition and await self.forwarded(message, repartition)):
                        await on_tombstone(event_, key)
                    continue
                record = decode(message.value, event, normalise)
                key_matches(message, record, key_field)
                if repartition and await self.forwarded(message, repartition):
                    continue
                await handle(event_, record)
            except DecodeError as exc:
                await self.send(message, exc.reason, exc.detail)
            except Exception as exc:  # noqa: BLE001 - an exception escaping the agent would ack the record: lost
                log.exception("%s[%s]@%s: handling failed", message.topic, message.partition, message.offset)
                await self.send(message, "internal_error", repr(exc))
