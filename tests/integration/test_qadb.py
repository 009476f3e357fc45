"""The QA database end to end, on a real broker and a real PostgreSQL (no Triton: the outputs are produced as the
worker produces them, valid per their schemas): duplicates on every output topic, the sink killed with SIGKILL
mid-way and started again, the database restarted while the sink runs. Afterwards the tables hold exactly the
de-duplicated outputs and `callqa check` (reconcile with the database) finds no gap."""
from __future__ import annotations

import uuid

import orjson
import pytest
from confluent_kafka import Producer
from support import Run, call_events, wait_until

from streams.core.codec import decode, encode
from streams.core.kafka import kafka_config
from streams.core.settings import Settings
from streams.qadb.compare import KEY_SQL
from streams.qadb.sink import lag
from streams.qadb.store import connect
from streams.tools.database import sink_process
from streams.tools.reconcile import reconcile

pytestmark = pytest.mark.integration
T0 = 1767230000000
RULES = [{"rule_id": "rule.greeting", "name": "开场问候", "kind": "required", "severity": "minor", "weight": 10,
          "outcome": "pass", "seq": 0, "detail": "说了「您好」"},
         {"rule_id": "rule.silence", "name": "静音时长", "kind": "max_silence", "severity": "minor", "weight": 10,
          "outcome": "fail", "seq": 2, "detail": "最长静音 13.0s（上限 12.0s）"}]


def outputs(n: int, human: bool) -> list[tuple[str, dict]]:
    """What a worker sends for call `n`: provisional and final attributions of both tasks, their call vectors, a
    scorecard, a pseudo-label unless a human labelled the call, alerts now and then."""
    call, user = f"q-{n}", f"u-{n % 17}"
    base = {"call_id": call, "user_id": user, "label_name": "流量扣费异常", "score": 0.61, "margin": 0.2,
            "top_k": [{"label_id": "x.a", "name": "流量扣费异常", "score": 0.61}], "candidates": 1,
            "candidate_source": "keywords", "account_known": True, "model_version": "1", "template_version": "ctx-v1",
            "timings_ms": {"queue": 1.0, "inference": 2.0, "end_to_end": 3.0}, "produced_at": T0 + n}
    out = []
    for task in ("product", "complaint"):
        out.append(("attribution", {**base, "idempotency_key": f"{call}:{task}:provisional@2:1", "task": task,
                                    "final": False, "label_id": f"{task}.a", "segment_count": 2}))
        out.append(("attribution", {**base, "idempotency_key": f"{call}:{task}:final:1", "task": task, "final": True,
                                    "label_id": f"{task}.a", "segment_count": 3}))
        out.append(("call_vector", {"idempotency_key": f"{call}:{task}:1", "call_id": call, "user_id": user,
                                    "task": task, "vector": [0.6, 0.8 * (n % 2), 0.8 * (1 - n % 2)], "snippet": "用户：流量多扣了。",
                                    "started_at": T0, "model_version": "1", "template_version": "ctx-v1",
                                    "produced_at": T0 + n}))
    out.append(("scorecard", {"idempotency_key": f"{call}:scorecard:1", "call_id": call, "user_id": user,
                              "agent_id": f"agent-{n % 5}", "score": 50.0, "critical_failed": False, "rules": RULES,
                              "talk": {"agent_ms": 5000, "customer_ms": 2500, "agent_ratio": 0.6667,
                                       "longest_silence_ms": 13000, "longest_overlap_ms": 0, "overlaps": 0},
                              "attributions": [{"task": "product", "label_id": "product.a", "label_name": "流量",
                                                "score": 0.61}], "segment_count": 3, "started_at": T0,
                              "model_version": "1", "produced_at": T0 + n}))
    if not human:
        out.append(("pseudo_label", {"idempotency_key": f"{call}:pseudo_label:ctx-v1", "call_id": call, "user_id": user,
                                     "context_text": "当前对话内容为(用户：流量多扣了。)", "summary_sentences": ["流量多扣了"],
                                     "summary": "流量多扣了", "template_version": "ctx-v1", "produced_at": T0 + n}))
    if n % 3 == 0:
        out.append(("alert", {"idempotency_key": f"{call}:complaint:complaint:1", "alert_id": f"{call}:complaint:complaint",
                              "kind": "complaint", "call_id": call, "user_id": user, "task": "complaint",
                              "label_id": "complaint.a", "label_name": "流量扣费异常", "score": 0.61, "margin": 0.2,
                              "reason": "投诉归因「流量扣费异常」得分 0.610 ≥ 0.3", "model_version": "1", "produced_at": T0 + n}))
    if n % 7 == 0:
        out.append(("alert", {"idempotency_key": f"{call}:forbidden_phrase:rule.rude:1", "alert_id": f"{call}:rule.rude:1",
                              "kind": "forbidden_phrase", "call_id": call, "user_id": user, "rule_id": "rule.rude",
                              "rule_name": "禁语", "severity": "critical", "phrase": "你烦不烦", "seq": 1,
                              "reason": "坐席说了禁语「你烦不烦」", "produced_at": T0 + n}))
    for event, record in out:
        decode(encode(record), event)  # valid per its schema, as the worker's are
    return out


class Topics:
    """Sends records as the worker and the input producers would, and remembers what the tables must hold."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.producer = settings, Producer(kafka_config(settings))
        self.expected = {table: set() for table in ("attributions", "alerts", "scorecards", "pseudo_labels",
                                                    "dead_letters", "call_vectors")}
        self.human: dict[str, str | None] = {}  # call -> annotator of its latest label (None: deleted)
        self.sent = 0

    def send(self, event: str, key: str, value: bytes | None) -> tuple[int, int]:
        where = []
        self.producer.produce(self.settings.topic(event), key=key.encode(), value=value,
                              on_delivery=lambda err, m: where.append((m.partition(), m.offset())))
        self.producer.flush(30)
        self.sent += 1
        return where[0]

    def output(self, event: str, record: dict, copies: int = 1) -> None:
        table = {"attribution": "attributions", "alert": "alerts", "scorecard": "scorecards",
                 "pseudo_label": "pseudo_labels", "dead_letter": "dead_letters",
                 "call_vector": "call_vectors"}[event]
        self.expected[table].add(record["idempotency_key"])
        for i in range(copies):  # a redelivered record: same key, later produced_at
            self.producer.produce(self.settings.topic(event), key=record["call_id"].encode() if "call_id" in record
                                  else None, value=encode({**record, "produced_at": record["produced_at"] + i}))
            self.sent += 1

    def bad_input(self, event: str, key: str, value: bytes, reason: str) -> None:
        """An input the worker dead-letters, and its dead letter."""
        p, o = self.send(event, key, value)
        topic = self.settings.topic(event)
        letter = {"idempotency_key": f"{topic}:{p}:{o}", "source_topic": topic, "source_partition": p,
                  "source_offset": o, "key_b64": None, "key_bytes": len(key), "value_b64": "", "value_bytes": len(value),
                  "reason": reason, "detail": "test", "produced_at": T0}
        self.output("dead_letter", letter, copies=2)

    def calls(self, numbers: range) -> None:
        for n in numbers:
            for event in call_events(f"q-{n}", f"u-{n % 17}", ["你好，我的流量多扣了", "您好，我帮您查一下", "好的谢谢"], T0 + n):
                self.producer.produce(self.settings.topic("transcript"), key=event["call_id"].encode(), value=encode(event))
            human = n % 5 == 0
            if human:
                self.label(n, "qa-01")
            for event, record in outputs(n, human):
                self.output(event, record, copies=2 if n % 4 == 0 else 1)
        self.bad_input("transcript", f"q-{numbers.start}", b'{"type": "segment", "call_id": ', "invalid_json")
        self.producer.flush(30)

    def label(self, n: int, annotator: str) -> None:
        record = {"call_id": f"q-{n}", "labels": {"product": "product.a"}, "annotator": annotator,
                  "event_time": T0 + n, "summary": "用户反映流量多扣"}
        self.send("human_label", record["call_id"], encode(record))
        self.human[record["call_id"]] = annotator

    def delete_label(self, n: int) -> None:
        self.send("human_label", f"q-{n}", None)
        self.human[f"q-{n}"] = None


def count(url: str, table: str) -> int:
    with connect(url) as conn:
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
            return 0  # the sink has not migrated yet
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_database_holds_exactly_the_deduplicated_outputs(kafka_bootstrap, postgres_server, database_url, tmp_path):
    run = Run.create(kafka_bootstrap, Settings().triton_url, tmp_path, CALLQA_DATABASE_URL=database_url,
                     CALLQA_SINK_GROUP=f"qadb-{uuid.uuid4().hex[:8]}", CALLQA_SINK_BATCH_SIZE="10",
                     CALLQA_SINK_BATCH_WINDOW_S="0.2", CALLQA_SINK_PROGRESS_EVERY_S="1")
    settings, topics = run.settings, Topics(run.settings)
    topics.calls(range(0, 300))
    topics.bad_input("human_label", "q-1", encode({"call_id": "q-2", "event_time": T0}), "key_mismatch")  # mis-keyed

    sink = sink_process(run.env, tmp_path, "sink-1").start()
    wait_until(lambda: count(database_url, "attributions") > 0, "the sink's first rows", 90)
    sink.kill()  # SIGKILL, mid-way: records stored whose offsets are not committed yet
    behind = sum(lag(settings).values())
    assert 0 < behind < topics.sent, "killed before the end of the first part"

    topics.calls(range(300, 400))
    for n in range(0, 100, 10):
        topics.label(n, "qa-02")  # the latest wins
    sink = sink_process(run.env, tmp_path, "sink-2").start()
    first_part = count(database_url, "attributions")
    wait_until(lambda: count(database_url, "attributions") > first_part, "the restarted sink storing", 90)

    postgres_server.stop()  # the database away while the sink runs (its batch is retried, offsets uncommitted)
    topics.calls(range(400, 450))
    topics.delete_label(20)
    wait_until(lambda: "database unavailable" in sink.log_file.read_text(errors="replace"), "the sink seeing it", 60)
    postgres_server.start()

    wait_until(lambda: not any(lag(settings).values()), "the sink catching up", 180)
    with connect(database_url) as conn:
        for table, keys in topics.expected.items():
            stored = {r[0] for r in conn.execute(f"SELECT {KEY_SQL.get(table, 'idempotency_key')} FROM {table}")}
            assert stored == keys, table
        assert conn.execute("SELECT count(*) FROM scorecard_rules").fetchone()[0] == len(RULES) * 450
        humans = dict(conn.execute("SELECT call_id, annotator FROM human_labels").fetchall())
        assert humans == {call: who for call, who in topics.human.items() if who is not None}
        assert humans["q-10"] == "qa-02" and humans["q-5"] == "qa-01" and "q-20" not in humans
        assert conn.execute("SELECT count(*) FROM final_attributions").fetchone()[0] == 2 * 450

    report = reconcile(settings, database=True)
    assert report.ok, report.gaps
    assert report.counts["db.attributions"] == len(topics.expected["attributions"]) == 4 * 450
    assert report.counts["attribution_duplicates"] > 0 and report.counts["dead_letter_duplicates"] > 0
    sink.stop()  # SIGTERM: writes what it holds and leaves the group
    assert sink.proc.returncode == 0
    logs = "".join((tmp_path / f"sink-{i}.log").read_text(errors="replace") for i in (1, 2))
    assert "/s)" in logs  # progress in records/s
    assert "human_label.v1" in logs and "not stored: key_mismatch" in logs  # the mis-keyed label: logged, not stored
    print(orjson.dumps({k: v for k, v in report.counts.items() if k.startswith("db.")}).decode())
