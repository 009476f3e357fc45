"""`callqa sink`: the output topics -> the QA database. Reads with confluent-kafka (the one client configuration,
TLS and SASL included), decodes with the codec, writes a batch (CALLQA_SINK_BATCH_SIZE records or
CALLQA_SINK_BATCH_WINDOW_S) in one transaction and commits the batch's offsets only after the transaction committed:
at-least-once delivery onto upserts keyed as consumers de-duplicate, so the tables hold exactly the de-duplicated
outputs, whatever was killed or restarted. A record it cannot decode is counted and logged, never a crash (the
worker produced it; it is no input to dead-letter). The database away: the batch is retried, offsets uncommitted."""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from streams.core.codec import decode
from streams.core.errors import DecodeError
from streams.core.kafka import kafka_config
from streams.core.settings import Settings
from streams.qadb import store
from streams.qadb.migrate import migrate
from streams.qadb.store import Item

log = logging.getLogger(__name__)
EVENTS = tuple(store.TABLES)  # the topics it reads, by event
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 10.0


def take(event: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> Item:
    """One Kafka record as an Item; DecodeError when it is not a valid record of its schema. Human labels are an
    input: checked as the worker checks them (normalised text, the key must be the call id), and a tombstone deletes
    its call's label, as it does in the worker's table."""
    if event == "human_label":
        if value is None:
            if not key:
                raise DecodeError("key_mismatch", "a tombstone without a key")
            return Item(event, partition, offset, None, key.decode("utf-8", "replace"))
        record = decode(value, event, normalise=True)
        if key is None or key != record.call_id.encode():
            raise DecodeError("key_mismatch", "the Kafka key is not the human label's call_id")
        return Item(event, partition, offset, record)
    return Item(event, partition, offset, decode(value, event))


@dataclass
class Batch:
    items: list[Item] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)  # (topic, partition) -> next offset to read
    read: int = 0  # records read into it, undecodable ones included
    started: float = field(default_factory=time.monotonic)

    def commit_list(self):
        from confluent_kafka import TopicPartition

        return [TopicPartition(topic, p, offset) for (topic, p), offset in self.offsets.items()]


class Sink:
    """The loop: consume, batch, write, commit. `stop` ends it after writing what it holds."""

    def __init__(self, settings: Settings, stop: threading.Event | None = None) -> None:
        self.settings, self.stop = settings, stop or threading.Event()
        self.events = {settings.topic(event): event for event in EVENTS}
        self.conn, self.consumer = None, None
        self.batch = Batch()
        self.totals: Counter = Counter()
        self._since, self._window = time.monotonic(), Counter()

    def run(self) -> Counter:
        from confluent_kafka import Consumer

        self.conn = self._connect()
        # The worker's session timeout: a sink killed without leaving the group holds its partitions this long.
        self.consumer = Consumer({**kafka_config(self.settings), "group.id": self.settings.sink_group,
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                  "session.timeout.ms": int(self.settings.session_timeout_s * 1000),
                                  "heartbeat.interval.ms": int(self.settings.heartbeat_interval_s * 1000),
                                  "fetch.message.max.bytes": 2 * 1024 * 1024})
        self.consumer.subscribe(list(self.events), on_revoke=self._on_revoke)
        log.info("sink: reading %s into the QA database (group %s)", sorted(self.events), self.settings.sink_group)
        try:
            while not self.stop.is_set():
                self._fill()
                if self.batch.read and (len(self.batch.items) >= self.settings.sink_batch_size
                                        or time.monotonic() - self.batch.started >= self.settings.sink_batch_window_s):
                    self.flush()
                self._progress()
            self.flush()
        finally:
            self.consumer.close()
            self._close()
        return self.totals

    def _fill(self) -> None:
        room = max(1, self.settings.sink_batch_size - len(self.batch.items))
        left = self.settings.sink_batch_window_s - (time.monotonic() - self.batch.started)
        for message in self.consumer.consume(room, timeout=min(max(0.0, left), 0.5) if self.batch.read else 0.5):
            if message.error() is not None:
                log.warning("sink: consumer error %s", message.error())
                continue
            if not self.batch.read:
                self.batch.started = time.monotonic()
            topic, p, offset = message.topic(), message.partition(), message.offset()
            self.batch.read += 1
            self.batch.offsets[(topic, p)] = offset + 1
            try:
                self.batch.items.append(take(self.events[topic], p, offset, message.key(), message.value()))
            except DecodeError as exc:
                self.totals["undecodable"] += 1
                log.warning("sink: %s[%d]@%d not stored: %s (%s)", topic, p, offset, exc.reason, exc.detail[:200])

    def flush(self) -> None:
        """Write the batch in one transaction (retried while the database is away), then commit its offsets."""
        batch, self.batch = self.batch, Batch()
        if not batch.read:
            return
        from confluent_kafka import KafkaException

        new = self._write(batch.items)
        try:
            self.consumer.commit(offsets=batch.commit_list(), asynchronous=False)
        except KafkaException as exc:  # a rebalance took the partitions: their new owner reads them again, no harm
            log.warning("sink: offsets not committed (%s): these records are read again, no harm", exc)
        self.totals.update(new)
        self.totals["records"] += batch.read
        self._window["records"] += batch.read
        self._window["new"] += sum(new.values())

    def _write(self, items: list[Item]) -> dict[str, int]:
        import psycopg

        delay, one_by_one = RETRY_FIRST_S, False
        while True:
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = self._connect()
                if one_by_one:
                    return self._write_each(items)
                with self.conn.transaction():
                    return store.write(self.conn, items, self.settings.call_vector_dim)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                log.warning("sink: database unavailable (%s): retrying the batch in %.1fs", _first_line(exc), delay)
                self._close()
            except (psycopg.DataError, psycopg.IntegrityError) as exc:
                if one_by_one:
                    raise
                log.warning("sink: a record of the batch was refused (%s): storing them one by one", _first_line(exc))
                one_by_one = True
                continue
            if self.stop.wait(delay):
                raise SystemExit("stopped while the database was away; the batch is read again at the next start")
            delay = min(delay * 2, RETRY_MAX_S)

    def _write_each(self, items: list[Item]) -> dict[str, int]:
        """The batch one record at a time (a savepoint each), leaving out the ones the database refuses."""
        import psycopg

        new: Counter = Counter()
        with self.conn.transaction():
            for item in items:
                try:
                    with self.conn.transaction():
                        new.update(store.write(self.conn, [item], self.settings.call_vector_dim))
                except (psycopg.DataError, psycopg.IntegrityError) as exc:
                    self.totals["refused"] += 1
                    log.warning("sink: %s[%d]@%d refused by the database: %s", self.settings.topic(item.event),
                                item.partition, item.offset, exc)
        return dict(new)

    def _connect(self):
        """Connect and migrate, retrying while the database does not answer (it may start after the sink)."""
        import psycopg

        delay = RETRY_FIRST_S
        while True:
            try:
                conn = store.connect(self.settings)
                applied = migrate(conn)
                if applied:
                    log.info("sink: migrations %s applied", applied)
                return conn
            except psycopg.OperationalError as exc:
                log.warning("sink: database unavailable (%s): connecting again in %.1fs", _first_line(exc), delay)
            if self.stop.wait(delay):
                raise SystemExit("stopped before the database answered")
            delay = min(delay * 2, RETRY_MAX_S)

    def _close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None

    def _on_revoke(self, consumer, partitions) -> None:
        """Write and commit what was read of the partitions before another sink takes them."""
        if self.batch.read:
            self.flush()

    def _progress(self) -> None:
        elapsed = time.monotonic() - self._since
        if elapsed < self.settings.sink_progress_every_s:
            return
        if self._window["records"]:
            log.info("sink: %d records in %.0fs (%.0f/s), %d rows new; in all %d records, %d undecodable",
                     self._window["records"], elapsed, self._window["records"] / elapsed, self._window["new"],
                     self.totals["records"], self.totals["undecodable"])
        self._since, self._window = time.monotonic(), Counter()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def lag(settings: Settings, timeout_s: float = 10.0) -> dict[str, int]:
    """Records on each output topic past the sink's committed offsets (all of a partition it never committed): 0
    everywhere when the database holds everything the topics do."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**kafka_config(settings), "group.id": settings.sink_group, "enable.auto.commit": False})
    try:
        behind = {}
        for event in EVENTS:
            topic = settings.topic(event)
            partitions = consumer.list_topics(topic, timeout=timeout_s).topics[topic].partitions
            parts = [TopicPartition(topic, p) for p in partitions]
            committed = {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=timeout_s)}
            total = 0
            for tp in parts:
                low, high = consumer.get_watermark_offsets(tp, timeout=timeout_s)
                at = committed.get(tp.partition, -1)
                total += high - (at if at >= 0 else low)
            behind[event] = total
        return behind
    finally:
        consumer.close()
