"""What the dashboard knows, built from the topics it reads: calls, alerts and their acks, the catalog, label counts,
the QA rules and scorecards. Pure state: `apply` takes one decoded record (`remove` a tombstone's key) and returns the
updates to push to the open pages.

Scorecards are kept whole only for the latest calls (as many as the call list keeps); the agent view reads sums per
agent and day (calls, score sum, critical failures, failed rules by rule) over the last `agent_days_kept` days, so
30 days of scorecards cost a few numbers per agent and day, not a record per call."""
from __future__ import annotations

import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field

from streams.core.records import TRANSCRIPT_EVENTS
from streams.core.redact import redact
from streams.core.render import Template, render_context
from streams.core.summarise import summarise

# Topic event -> schema (or the transcript's type map) the dashboard decodes it with.
READS = {"transcript": TRANSCRIPT_EVENTS, "account": "account", "label": "label", "attribution": "attribution",
         "alert": "alert", "alert_ack": "alert_ack", "label_count": "label_count", "pseudo_label": "pseudo_label",
         "scorecard": "scorecard", "rule": "rule"}
HEALTH_WINDOW_S = 300  # throughput and latency over the last 5 minutes
DAY_MS = 86_400_000
TOP_VIOLATIONS = 5  # failed rules named per agent in the agent view


@dataclass
class Board:
    max_calls: int = 500
    max_alerts: int = 2000
    calls: OrderedDict = field(default_factory=OrderedDict)  # call_id -> call, oldest first
    accounts: dict = field(default_factory=dict)
    catalog: dict = field(default_factory=dict)  # label_id -> label record
    last_used: dict = field(default_factory=dict)  # label_id -> {call_id, chosen, at}
    alerts: OrderedDict = field(default_factory=OrderedDict)  # alert_id -> alert (+ "ack"), oldest first
    acks: dict = field(default_factory=dict)  # alert_id -> ack, also for alerts not seen (yet)
    counts: dict = field(default_factory=dict)  # label_id -> latest label_count record
    summaries: dict = field(default_factory=dict)  # call_id -> pseudo-label summary
    finals: deque = field(default_factory=lambda: deque(maxlen=20000))  # (produced at, end-to-end ms) of final attributions
    rules: dict = field(default_factory=dict)  # rule_id -> QA rule
    scorecards: OrderedDict = field(default_factory=OrderedDict)  # call_id -> scorecard, the latest `max_calls`
    # The agent view: (agent_id or None, day) -> {"calls", "score_sum", "critical", "failed": {rule_id: calls}}
    agent_days: dict = field(default_factory=dict)
    agent_days_kept: int = 30
    utc_offset_h: float = 8.0  # where a day begins
    rule_names: dict = field(default_factory=dict)  # rule_id -> name, as the scorecards name them
    # What each of the latest scorecards added to the sums, so that a re-delivered or re-scored call replaces its
    # own contribution instead of counting twice (older re-deliveries than these would count twice).
    counted: OrderedDict = field(default_factory=OrderedDict)
    max_counted: int = 20000
    newest_day: int | None = None

    def apply(self, event: str, record: dict) -> list[dict]:
        """Fold one record in; returns the updates for the pages ({"type", "data"})."""
        return getattr(self, f"_on_{event}")(record)

    # --- per topic ---------------------------------------------------------------------------------------------

    def _on_transcript(self, record: dict) -> list[dict]:
        call = self._call(record["call_id"], record["user_id"])
        kind = record["type"]
        if kind == "call_start":
            call["started_at"] = record["event_time"]
            call["agent_id"] = record.get("agent_id")
        elif kind == "segment":
            call["segments"][record["seq"]] = {"speaker": record["speaker"], "text": record["text"]}
            return []  # the list shows segment counts from attributions; no push per utterance
        else:
            call["ended"] = True
        return [{"type": "call", "data": self.call_row(call)}]

    def _on_account(self, record: dict) -> list[dict]:
        self.accounts[record["user_id"]] = record
        return []

    def _on_label(self, record: dict) -> list[dict]:
        self.catalog[record["label_id"]] = record
        return [{"type": "label", "data": self.label_row(record["label_id"])}]

    def _on_attribution(self, record: dict) -> list[dict]:
        call = self._call(record["call_id"], record["user_id"])
        previous = call["attributions"].get(record["task"])
        if previous is not None and previous["final"] and not record["final"]:
            return []  # a provisional one re-delivered after the final changes nothing
        call["attributions"][record["task"]] = record
        updates = [{"type": "call", "data": self.call_row(call)}]
        if record["final"]:
            self.finals.append((record["produced_at"] / 1000, record["timings_ms"]["end_to_end"]))
        for rank, top in enumerate(record["top_k"]):
            self.last_used[top["label_id"]] = {"call_id": record["call_id"], "chosen": rank == 0, "at": record["produced_at"]}
            if top["label_id"] in self.catalog:
                updates.append({"type": "label", "data": self.label_row(top["label_id"])})
        return updates

    def _on_alert(self, record: dict) -> list[dict]:
        alert_id = record["alert_id"]
        self.alerts.pop(alert_id, None)  # a re-delivered or re-attributed alert moves to the top
        self.alerts[alert_id] = record
        while len(self.alerts) > self.max_alerts:
            self.alerts.popitem(last=False)
        return [{"type": "alert", "data": self.alert_row(alert_id)}]

    def _on_alert_ack(self, record: dict) -> list[dict]:
        self.acks[record["alert_id"]] = record
        return [{"type": "alert", "data": self.alert_row(record["alert_id"])}] if record["alert_id"] in self.alerts else []

    def _on_label_count(self, record: dict) -> list[dict]:
        self.counts[record["label_id"]] = record
        return [{"type": "count", "data": record}]

    def _on_pseudo_label(self, record: dict) -> list[dict]:
        self.summaries[record["call_id"]] = record["summary"]
        return []

    def _on_rule(self, record: dict) -> list[dict]:
        self.rules[record["rule_id"]] = record
        return [{"type": "rule", "data": self.rule_row(record["rule_id"])}]

    def _on_scorecard(self, record: dict) -> list[dict]:
        call_id = record["call_id"]
        failed = tuple(sorted({r["rule_id"] for r in record["rules"] if r["outcome"] == "fail"}))
        for r in record["rules"]:
            self.rule_names[r["rule_id"]] = r["name"]
        previous = self.counted.pop(call_id, None)
        if previous is not None:
            self._count(previous, -1)
        contribution = (record.get("agent_id"), self.day(record["produced_at"]), record["score"],
                        bool(record["critical_failed"]), failed)
        self.counted[call_id] = contribution
        while len(self.counted) > self.max_counted:
            self.counted.popitem(last=False)
        self._count(contribution, 1)
        self.scorecards.pop(call_id, None)
        self.scorecards[call_id] = record
        while len(self.scorecards) > self.max_calls:
            self.scorecards.popitem(last=False)
        updates = [{"type": "scorecard", "data": {k: record.get(k) for k in ("call_id", "agent_id", "score", "critical_failed",
                                                                               "produced_at")}}]
        if call_id in self.calls:
            updates.append({"type": "call", "data": self.call_row(self.calls[call_id])})
        return updates

    def remove(self, event: str, key: str) -> list[dict]:
        """A tombstone (null value) on a compacted topic: its key is gone. Only the rules are deleted this way."""
        if event == "rule" and self.rules.pop(key, None) is not None:
            return [{"type": "rule_deleted", "data": {"rule_id": key}}]
        return []

    # --- agent view --------------------------------------------------------------------------------------------

    def day(self, at_ms: int) -> int:
        """The day (days since the epoch, in the call centre's time zone) of a moment."""
        return int((at_ms + self.utc_offset_h * 3_600_000) // DAY_MS)

    def _count(self, contribution: tuple, sign: int) -> None:
        agent_id, day, score, critical, failed = contribution
        if self.newest_day is None or day > self.newest_day:
            self.newest_day = day
            oldest = day - self.agent_days_kept + 1
            for key in [k for k in self.agent_days if k[1] < oldest]:
                del self.agent_days[key]
        if day <= self.newest_day - self.agent_days_kept:
            return  # older than the view goes back (or its day has been dropped since)
        bucket = self.agent_days.get((agent_id, day))
        if bucket is None:
            if sign < 0:
                return
            bucket = self.agent_days[(agent_id, day)] = {"calls": 0, "score_sum": 0.0, "critical": 0, "failed": {}}
        bucket["calls"] += sign
        bucket["score_sum"] += sign * score
        bucket["critical"] += sign * int(critical)
        for rule_id in failed:
            left = bucket["failed"].get(rule_id, 0) + sign
            if left > 0:
                bucket["failed"][rule_id] = left
            else:
                bucket["failed"].pop(rule_id, None)
        if bucket["calls"] <= 0:
            del self.agent_days[(agent_id, day)]

    def agents(self, days: int, now_ms: int | None = None) -> list[dict]:
        """Per agent over the last `days` days (today and the days before it): calls, mean score, critical failures
        and the rules failed most; worst mean score first."""
        today = self.day(int(time.time() * 1000) if now_ms is None else now_ms)
        first = today - days + 1
        totals: dict = {}
        for (agent_id, day), bucket in self.agent_days.items():
            if first <= day <= today:
                total = totals.setdefault(agent_id, {"calls": 0, "score_sum": 0.0, "critical": 0, "failed": Counter()})
                total["calls"] += bucket["calls"]
                total["score_sum"] += bucket["score_sum"]
                total["critical"] += bucket["critical"]
                total["failed"].update(bucket["failed"])
        rows = [{"agent_id": agent_id, "calls": t["calls"], "mean_score": round(t["score_sum"] / t["calls"], 1),
                 "critical_failures": t["critical"], "violations_total": sum(t["failed"].values()),
                 "violations": [{"rule_id": rule_id, "name": self.rule_names.get(rule_id, rule_id), "calls": n}
                                for rule_id, n in sorted(t["failed"].items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_VIOLATIONS]]}
                for agent_id, t in totals.items() if t["calls"] > 0]
        return sorted(rows, key=lambda r: (r["mean_score"], -r["critical_failures"], -r["calls"], r["agent_id"] or ""))

    # --- views -------------------------------------------------------------------------------------------------

    def _call(self, call_id: str, user_id: str) -> dict:
        call = self.calls.get(call_id)
        if call is None:
            call = {"call_id": call_id, "user_id": user_id, "agent_id": None, "started_at": None, "ended": False,
                    "segments": {}, "attributions": {}}
            self.calls[call_id] = call
            while len(self.calls) > self.max_calls:  # the oldest finished call goes first, else the oldest
                oldest = next((c for c, v in self.calls.items() if v["ended"]), next(iter(self.calls)))
                del self.calls[oldest]
                self.scorecards.pop(oldest, None)
        return call

    def call_row(self, call: dict) -> dict:
        tasks = {task: {"label_id": a["label_id"], "label_name": a["label_name"], "score": a["score"], "final": a["final"],
                        "segment_count": a["segment_count"]} for task, a in call["attributions"].items()}
        final = len(tasks) == 2 and all(t["final"] for t in tasks.values())
        updated = max((a["produced_at"] for a in call["attributions"].values()), default=call["started_at"] or 0)
        scorecard = self.scorecards.get(call["call_id"])
        if scorecard is not None:
            updated = max(updated, scorecard["produced_at"])
        return {"call_id": call["call_id"], "user_id": call["user_id"],
                "agent_id": call.get("agent_id") or (scorecard or {}).get("agent_id"),
                "status": "final" if final else "in_progress", "started_at": call["started_at"], "updated_at": updated,
                "tasks": tasks,
                "qa": {"score": scorecard["score"], "critical_failed": scorecard["critical_failed"]} if scorecard else None}

    def call_detail(self, call_id: str, template: Template, summary_sentences: int = 3) -> dict | None:
        """One call for the detail panel: redacted transcript, account context, top-k per task, summary, model."""
        call = self.calls.get(call_id)
        if call is None:
            return None
        turns = [call["segments"][s] for s in sorted(call["segments"])]
        account = self.accounts.get(call["user_id"])
        summary = self.summaries.get(call_id)
        if summary is None and turns:  # labelled calls get no pseudo-label: summarise like the worker does
            summary = "".join(summarise(redact(render_context(turns, account, template)), summary_sentences))
        return {
            **self.call_row(call),
            "transcript": [{"seq": s, "speaker": call["segments"][s]["speaker"], "text": redact(call["segments"][s]["text"])}
                           for s in sorted(call["segments"])],
            "account": {k: v for k, v in account.items() if k != "user_id"} if account else None,
            "attributions": {task: {k: a[k] for k in ("label_id", "label_name", "score", "margin", "top_k", "final",
                                                     "model_version", "template_version", "candidate_source", "produced_at")}
                             for task, a in call["attributions"].items()},
            "summary": summary,
            "scorecard": self.scorecards.get(call_id),  # None until the call has ended and been scored
        }

    def alert_row(self, alert_id: str) -> dict:
        return {**self.alerts[alert_id], "ack": self.acks.get(alert_id)}

    def label_row(self, label_id: str) -> dict:
        return {**self.catalog[label_id], "last_used": self.last_used.get(label_id)}

    def rule_row(self, rule_id: str) -> dict:
        """A rule for the list: its phrases counted, not listed (a forbidden-phrase rule may hold thousands)."""
        rule = self.rules[rule_id]
        return {**{k: v for k, v in rule.items() if k != "phrases"}, "phrase_count": len(rule.get("phrases") or ())}

    def health(self, now: float | None = None) -> dict:
        """Throughput (final attributions a minute) and p95 end-to-end latency over the last 5 minutes."""
        now = time.time() if now is None else now
        recent = sorted(ms for at, ms in self.finals if at >= now - HEALTH_WINDOW_S)
        return {"attributions_per_min": round(len(recent) * 60 / HEALTH_WINDOW_S, 1),
                "latency_p95_ms": recent[int(0.95 * (len(recent) - 1))] if recent else None}

    def snapshot(self) -> dict:
        return {
            "calls": [self.call_row(c) for c in reversed(self.calls.values())],
            "alerts": [self.alert_row(a) for a in reversed(self.alerts)],
            "labels": [self.label_row(l) for l in sorted(self.catalog)],
            "counts": list(self.counts.values()),
            "rules": [self.rule_row(r) for r in sorted(self.rules)],
        }
