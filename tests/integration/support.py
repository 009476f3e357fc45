"""Helpers the integration tests share: a run's settings and worker environment, reading topics, waiting for tables."""
from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import orjson

from streams.core.kafka import consumer_from_start
from streams.core.settings import Settings
from streams.core.topics import create_topics
from streams.tools import stack
from streams.tools.stack import Process, worker_process


@dataclass
class Run:
    """One test's own topics (a fresh prefix), consumer group and worker configuration."""

    settings: Settings
    env: dict
    log_dir: Path

    @classmethod
    def create(cls, kafka_bootstrap: str, triton_url: str, tmp_path: Path, **env: str) -> "Run":
        prefix = f"t{uuid.uuid4().hex[:8]}"
        base = {"CALLQA_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "CALLQA_TRITON_URL": triton_url,
                "CALLQA_TOPIC_PREFIX": prefix, "CALLQA_APP_ID": f"{prefix}-worker", **env}
        settings = Settings(**{k.removeprefix("CALLQA_").lower(): v for k, v in base.items()})
        create_topics(settings)
        return cls(settings, base, tmp_path)

    def worker(self, name: str = "worker", **env: str) -> Process:
        return worker_process(name, {**self.env, "CALLQA_DATA_DIR": str(self.log_dir / name), **env}, self.log_dir)


class Supervisor(stack.Supervisor):
    """The local stack's supervisor (a worker that exits is started again, as Kubernetes would) over a run's
    workers, named "worker" unless told otherwise."""

    def __init__(self, run: Run) -> None:
        super().__init__(run.worker)

    def start(self, name: str = "worker") -> None:
        super().start(name)

    def kill(self, name: str = "worker") -> None:
        super().kill(name)


def read_topic(settings: Settings, topic: str, until, timeout_s: float, on_poll=None,
               record=lambda m: (m.partition(), m.offset(), m.value())) -> list:
    """Read `topic` from the start until `until(records)` holds; each message becomes `record(message)`
    ((partition, offset, value) unless told otherwise). `on_poll()` runs between polls (e.g. Supervisor.tend)."""
    consumer = consumer_from_start(settings, topic, "test")
    records, deadline = [], time.monotonic() + timeout_s
    try:
        while not until(records) and time.monotonic() < deadline:
            if on_poll is not None:
                on_poll()
            records += [record(m) for m in consumer.consume(500, timeout=0.5) if m.error() is None]
    finally:
        consumer.close()
    return records


def read_all(settings: Settings, event: str, until, timeout_s: float, on_poll=None) -> list:
    """The event's topic read as read_topic does: (partition, offset, value) records."""
    return read_topic(settings, settings.topic(event), until, timeout_s, on_poll)


def finals_by_call(records) -> dict:
    finals = defaultdict(dict)
    for _, _, value in records:
        a = orjson.loads(value)
        if a["final"]:
            finals[a["call_id"]][a["task"]] = a
    return finals


def all_final(calls) -> callable:
    """`until` for read_all on the attribution topic: both tasks' final attributions of every call in `calls`."""
    calls = set(calls)

    def done(records) -> bool:
        finals = finals_by_call(records)
        return all(len(finals.get(c, {})) == 2 for c in calls)

    return done


def records_in(settings: Settings, topic: str) -> int:
    """Records in a topic so far (the sum of its end offsets): progress of a run, duplicates included."""
    consumer = consumer_from_start(settings, topic, "test")
    try:
        return sum(consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in consumer.assignment())
    finally:
        consumer.close()


def table_size(settings: Settings, table: str) -> int:
    """Records in a worker table's changelog: the upsert agents have consumed at least this many inputs."""
    return records_in(settings, f"{settings.app_id}-{table}-changelog")


def wait_until(check, what: str, timeout_s: float, on_poll=None) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if on_poll is not None:
            on_poll()
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout_s:.0f}s")
        time.sleep(0.2)


def call_events(call_id: str, user_id: str, texts: list[str], t0: int = 1767230000000) -> list[dict]:
    """A well-formed call: start, one segment per text (alternating speakers), end."""
    events = [{"type": "call_start", "call_id": call_id, "user_id": user_id, "event_time": t0}]
    for seq, text in enumerate(texts):
        events.append({"type": "segment", "call_id": call_id, "user_id": user_id, "seq": seq,
                       "speaker": "agent" if seq % 2 else "customer", "text": text, "start_ms": seq * 3000,
                       "end_ms": seq * 3000 + 2500, "event_time": t0 + seq * 3000 + 2500})
    events.append({"type": "call_end", "call_id": call_id, "user_id": user_id, "segment_count": len(texts),
                   "event_time": t0 + len(texts) * 3000})
    return events


def extra_calls(path: Path, n: int, prefix: str = "call-iot") -> Path:
    """Calls that mention only the new catalog label's keyword among product keywords."""
    lines = []
    for i in range(n):
        lines += call_events(f"{prefix}-{i}", "u-00001", ["你好，我们公司想批量办理物联网卡", "好的，请问需要多少张",
                                                         "大概两百张，用在共享单车的锁上"], 1767230000000 + i * 1000)
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    return path
