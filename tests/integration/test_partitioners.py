"""The worker does not depend on the producers' partitioner: two workers, every input produced by librdkafka's
default partitioner (consistent_random, CRC32 of the key: kcat's default) instead of murmur2. Accounts still meet
their calls (account_known), human labels still meet theirs (no pseudo-label), and `callqa check` finds no gap.
The workers run supervised, as in `callqa up` and Kubernetes: when two start together, faust sometimes leaves a
partition it assigned unfetched (seen: label.v1[0] on the worker that led the first generation), the watchdog exits
that worker, and it is started again."""
from __future__ import annotations

import orjson
import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from streams.core.kafka import kafka_config
from streams.core.topics import repartition_topic
from streams.tools.reconcile import read_topic, reconcile
from streams.tools.replay import KEY_FIELD, key_of, read_lines
from streams.worker.deadletter import home_partition
from streams.worker.watchdog import EXIT_STALLED
from support import Run, Supervisor, all_final, finals_by_call, read_all, records_in, table_size, wait_until

pytestmark = pytest.mark.integration
CALLS = 24


def crc32_producer(settings) -> Producer:
    return Producer({**kafka_config(settings), "partitioner": "consistent_random", "linger.ms": 5, "acks": "all"})


def send(settings, event: str, lines: list[bytes]) -> list[int]:
    """Produce with the CRC32 partitioner; the partition each record went to."""
    out, partitions = crc32_producer(settings), []
    for line in lines:
        out.produce(settings.topic(event), value=line, key=key_of(line, KEY_FIELD[event]),
                    on_delivery=lambda err, msg: partitions.append(msg.partition()))
        out.poll(0)
    assert out.flush(30) == 0
    return partitions


def group_members(settings) -> int:
    admin = AdminClient(kafka_config(settings))
    try:
        described = admin.describe_consumer_groups([settings.app_id], request_timeout=10)[settings.app_id].result()
    except KafkaException:  # no coordinator yet
        return 0
    return len(described.members) if str(described.state).endswith("STABLE") else 0


def test_two_workers_and_a_producer_with_another_partitioner(kafka_bootstrap, triton_url, sample_dir, tmp_path):
    run = Run.create(kafka_bootstrap, triton_url, tmp_path, CALLQA_PROVISIONAL_EVERY="0", CALLQA_STALL_TIMEOUT_S="30")
    settings = run.settings
    transcript = read_lines(sample_dir / "transcript.jsonl")
    calls: dict[str, str] = {}
    for line in transcript:
        event = orjson.loads(line)
        if len(calls) < CALLS or event["call_id"] in calls:
            calls.setdefault(event["call_id"], event["user_id"])
    transcript = [line for line in transcript if orjson.loads(line)["call_id"] in calls]
    accounts = read_lines(sample_dir / "accounts.jsonl")
    known_users = {orjson.loads(line)["user_id"] for line in accounts}
    labels = read_lines(sample_dir / "catalog.jsonl")
    # Human labels of half the calls, before those calls are sent: those calls get no pseudo-label.
    labelled = sorted(calls)[::2]
    human = [orjson.dumps({"call_id": c, "labels": {}, "summary": "人工标注", "event_time": 1767225600000}) for c in labelled]

    workers = Supervisor(run)
    workers.start("worker-a")
    workers.start("worker-b")
    try:
        wait_until(lambda: group_members(settings) == 2, "both workers in the group", 180, on_poll=workers.tend)
        send(settings, "label", labels)
        account_partitions = send(settings, "account", accounts)
        human_partitions = send(settings, "human_label", human)
        wait_until(lambda: table_size(settings, "labels") >= len(labels) and table_size(settings, "accounts") >= len(accounts)
                   and table_size(settings, "human_labels") >= len(human), "tables filled", 300, on_poll=workers.tend)
        transcript_partitions = send(settings, "transcript", transcript)
        finals = finals_by_call(read_all(settings, "attribution", all_final(calls), timeout_s=600, on_poll=workers.tend))
    finally:
        workers.stop()
    print(f"\npartitioners: worker exits (name, code): {workers.exits}")
    assert all(code == EXIT_STALLED for _, code in workers.exits), workers.exits  # no crash, only stall exits

    # The producer did put many keys off their murmur2 partition (else this test would prove nothing) ...
    off = sum(p != home_partition(key_of(line, "user_id"), settings.partitions) for line, p in zip(accounts, account_partitions))
    assert off >= len(accounts) // 3, off
    assert any(p != home_partition(key_of(line, "call_id"), settings.partitions) for line, p in zip(transcript, transcript_partitions))
    assert any(p != home_partition(key_of(line, "call_id"), settings.partitions) for line, p in zip(human, human_partitions))
    assert records_in(settings, repartition_topic(settings, "account")) > 0
    # ... and still every account meets its calls and every human label its call.
    assert set(finals) == set(calls)
    wrong = {c: (calls[c] in known_users, finals[c]["product"]["account_known"]) for c in calls
             if finals[c]["product"]["account_known"] != (calls[c] in known_users)}
    assert not wrong, wrong
    ready = {r["call_id"]: r for r in (orjson.loads(v) for _, _, v in read_topic(settings, "call_ready")) if r["final"]}
    assert {c for c in calls if ready[c]["has_human_label"]} == set(labelled)
    pseudo = {orjson.loads(v)["call_id"] for _, _, v in read_topic(settings, "pseudo_label")}
    assert not pseudo & set(labelled) and pseudo >= set(calls) - set(labelled) - no_words(finals)
    report = reconcile(settings)
    assert report.ok, report.gaps


def no_words(finals: dict) -> set[str]:
    return {c for c, tasks in finals.items() if "alerts_withheld" in tasks["product"]}
