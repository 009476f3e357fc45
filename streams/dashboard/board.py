"""What the dashboard knows, built from the topics it reads: calls, alerts and their acks, the catalog, label counts.
Pure state: `apply` takes one decoded record and returns the updates to push to the open pages."""
from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from streams.core.records import TRANSCRIPT_EVENTS
from streams.core.redact import redact
from streams.core.render import Template, render_context
from streams.core.summarise import summarise

# Topic event -> schema (or the transcript's type map) the dashboard decodes it with.
READS = {"transcript": TRANSCRIPT_EVENTS, "account": "account", "label": "label", "attribution": "attribution",
         "alert": "alert", "alert_ack": "alert_ack", "label_count": "label_count", "pseudo_label": "pseudo_label"}
HEALTH_WINDOW_S = 300  # throughput and latency over the last 5 minutes


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

    def apply(self, event: str, record: dict) -> list[dict]:
        """Fold one record in; returns the updates for the pages ({"type", "data"})."""
        return getattr(self, f"_on_{event}")(record)

    # --- per topic ---------------------------------------------------------------------------------------------

    def _on_transcript(self, record: dict) -> list[dict]:
        call = self._call(record["call_id"], record["user_id"])
        kind = record["type"]
        if kind == "call_start":
            call["started_at"] = record["event_time"]
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

    # --- views -------------------------------------------------------------------------------------------------

    def _call(self, call_id: str, user_id: str) -> dict:
        call = self.calls.get(call_id)
        if call is None:
            call = {"call_id": call_id, "user_id": user_id, "started_at": None, "ended": False, "segments": {}, "attributions": {}}
            self.calls[call_id] = call
            while len(self.calls) > self.max_calls:  # the oldest finished call goes first, else the oldest
                oldest = next((c for c, v in self.calls.items() if v["ended"]), next(iter(self.calls)))
                del self.calls[oldest]
        return call

    def call_row(self, call: dict) -> dict:
        tasks = {task: {"label_id": a["label_id"], "label_name": a["label_name"], "score": a["score"], "final": a["final"],
                        "segment_count": a["segment_count"]} for task, a in call["attributions"].items()}
        final = len(tasks) == 2 and all(t["final"] for t in tasks.values())
        updated = max((a["produced_at"] for a in call["attributions"].values()), default=call["started_at"] or 0)
        return {"call_id": call["call_id"], "user_id": call["user_id"], "status": "final" if final else "in_progress",
                "started_at": call["started_at"], "updated_at": updated, "tasks": tasks}

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
            "transcript": [{"speaker": t["speaker"], "text": redact(t["text"])} for t in turns],
            "account": {k: v for k, v in account.items() if k != "user_id"} if account else None,
            "attributions": {task: {k: a[k] for k in ("label_id", "label_name", "score", "margin", "top_k", "final",
                                                     "model_version", "template_version", "candidate_source", "produced_at")}
                             for task, a in call["attributions"].items()},
            "summary": summary,
        }

    def alert_row(self, alert_id: str) -> dict:
        return {**self.alerts[alert_id], "ack": self.acks.get(alert_id)}

    def label_row(self, label_id: str) -> dict:
        return {**self.catalog[label_id], "last_used": self.last_used.get(label_id)}

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
        }
