"""A live terminal view of what the pipeline publishes: attributions, alerts, scorecards, pseudo-labels, dead
letters."""
from __future__ import annotations

import statistics
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import orjson
from confluent_kafka import Consumer, TopicPartition
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from streams.core.kafka import kafka_config
from streams.core.records import TASKS
from streams.core.settings import Settings

WATCHED = ("attribution", "alert", "scorecard", "pseudo_label", "dead_letter")
ALERT_KINDS = {"complaint": "[red]complaint 投诉[/]", "review": "[yellow]review 复核[/]",
               "forbidden_phrase": "[magenta]禁语 forbidden[/]"}


def consumer_at_end(settings: Settings, events=WATCHED) -> Consumer:
    """A group-less consumer positioned at the current end of each watched topic."""
    consumer = Consumer({**kafka_config(settings), "group.id": f"callqa-watch-{time.time_ns()}", "enable.auto.commit": False})
    assignment = []
    for event in events:
        topic = settings.topic(event)
        for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            assignment.append(TopicPartition(topic, p, high))
    consumer.assign(assignment)
    return consumer


@dataclass
class View:
    settings: Settings
    truth: dict[str, dict] = field(default_factory=dict)  # call_id -> {task: label_id}, when known
    counts: Counter = field(default_factory=Counter)
    finals: dict = field(default_factory=dict)  # call_id -> {task: attribution}
    latencies_ms: list = field(default_factory=list)
    final_times: deque = field(default_factory=lambda: deque(maxlen=2000))
    alerts: deque = field(default_factory=lambda: deque(maxlen=8))
    summaries: deque = field(default_factory=lambda: deque(maxlen=3))
    dead: deque = field(default_factory=lambda: deque(maxlen=4))
    scores: dict = field(default_factory=dict)  # call_id -> scorecard score
    failed: Counter = field(default_factory=Counter)  # rule name -> calls that failed it
    first_final_at: float | None = None
    last_final_at: float | None = None

    def add(self, event: str, record: dict) -> None:
        if event == "attribution":
            stage = "final" if record["final"] else "provisional"
            self.counts[f"{stage} attributions"] += 1
            if record["final"]:
                self.finals.setdefault(record["call_id"], {})[record["task"]] = record
                self.latencies_ms.append(record["timings_ms"]["end_to_end"])
                now = time.monotonic()
                self.first_final_at = self.first_final_at or now
                self.last_final_at = now
                if len(self.finals[record["call_id"]]) == 2:
                    self.final_times.append(now)
        elif event == "alert":
            self.counts[f"{record['kind']} alerts"] += 1
            self.alerts.appendleft(record)
        elif event == "scorecard":
            if record["call_id"] not in self.scores:
                self.failed.update(r["name"] for r in record["rules"] if r["outcome"] == "fail")
            self.scores[record["call_id"]] = record["score"]
        elif event == "pseudo_label":
            self.counts["pseudo-labels"] += 1
            self.summaries.appendleft(record)
        else:
            self.counts["dead letters"] += 1
            self.dead.appendleft(record)

    def completed_calls(self) -> int:
        return sum(1 for tasks in self.finals.values() if len(tasks) == 2)

    def stats(self) -> dict:
        lat = sorted(self.latencies_ms)
        span = (self.last_final_at - self.first_final_at) if self.first_final_at and self.last_final_at else 0.0
        stats = {
            "calls_final": self.completed_calls(), **dict(self.counts),
            "calls_per_s": round(self.completed_calls() / span, 2) if span > 0 else None,
            "latency_ms_p50": statistics.median(lat) if lat else None,
            "latency_ms_p95": lat[int(0.95 * (len(lat) - 1))] if lat else None,
            "scorecards": len(self.scores),
            "qa_score_mean": round(statistics.mean(self.scores.values()), 1) if self.scores else None,
        }
        for task in TASKS:
            judged = [(c, t[task]["label_id"]) for c, t in self.finals.items() if task in t and c in self.truth]
            if judged:
                stats[f"{task}_accuracy"] = round(sum(self.truth[c][task] == l for c, l in judged) / len(judged), 3)
        return stats

    def render(self):
        s = self.stats()
        head = Table.grid(padding=(0, 3))
        head.add_row(*(f"[bold]{k}[/] {v}" for k, v in s.items() if v is not None))
        recent = Table(title="最新归因 latest final attributions", expand=True)
        for col in ("call", "product 产品", "score", "complaint 投诉", "score", "质检分 QA", "model"):
            recent.add_column(col)
        for call_id in list(self.finals)[-10:][::-1]:
            t = self.finals[call_id]
            p, c = t.get("product"), t.get("complaint")
            qa = self.scores.get(call_id)
            recent.add_row(call_id, p["label_name"] if p else "…", f"{p['score']:.2f}" if p else "",
                           c["label_name"] if c else "…", f"{c['score']:.2f}" if c else "",
                           "…" if qa is None else f"{qa:g}", (p or c)["model_version"])
        alerts = Table(title="质检告警 QA alerts", expand=True)
        for col in ("kind", "call", "label / rule", "score / severity", "reason"):
            alerts.add_column(col)
        for a in self.alerts:
            rule = a["kind"] == "forbidden_phrase"
            alerts.add_row(ALERT_KINDS.get(a["kind"], a["kind"]), a["call_id"], a["rule_name"] if rule else a["label_name"],
                           a["severity"] if rule else f"{a['score']:.2f}", a["reason"])
        if self.failed:
            alerts.caption = "未通过最多的规则 rules failed most: " + "，".join(
                f"{name} {n}" for name, n in self.failed.most_common(5))
        lines = [f"{p['call_id']}: {p['summary'][:120]}" for p in self.summaries]
        lines += [f"[red]dead letter[/] {d['source_topic']}@{d['source_offset']}: {d['reason']} {d['detail'][:80]}" for d in self.dead]
        return Group(Panel(head, title="callqa live"), recent, alerts, Panel("\n".join(lines) or "…", title="伪标签摘要 pseudo-label summaries / dead letters"))


def poll_into(consumer: Consumer, view: View, settings: Settings, timeout_s: float = 0.2, max_records: int = 500) -> int:
    by_topic = {settings.topic(e): e for e in WATCHED}
    n = 0
    for message in consumer.consume(max_records, timeout=timeout_s):
        if message.error() is None:
            view.add(by_topic[message.topic()], orjson.loads(message.value()))
            n += 1
    return n
