"""`callqa check`: reconcile a run. Every input record must end as an output or a dead letter (a finished call: its
final attributions, its scorecard, its call vectors, and a pseudo-label unless a human labelled it); outputs are
counted after de-duplication on their idempotency keys (at-least-once delivers some twice). With `database`, the QA
database must hold exactly those de-duplicated outputs (streams/qadb/compare.py)."""
from __future__ import annotations

import base64
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import orjson

from streams.core.codec import decode
from streams.core.errors import DecodeError
from streams.core.kafka import read_to_end
from streams.core.records import TASKS, TRANSCRIPT_EVENTS
from streams.core.settings import Settings

STATE_INPUTS = {"account": "account", "label": "label", "rule": "rule", "human_label": "human_label"}  # event -> schema


def read_topic(settings: Settings, event: str, timeout_s: float = 60.0) -> list[tuple[int, int, bytes | None]]:
    """Every record of the topic up to its end offsets at the start of the read: (partition, offset, value)."""
    return read_to_end(settings, event, "callqa-check", timeout_s, **{"fetch.message.max.bytes": 2 * 1024 * 1024})


@dataclass
class Report:
    counts: Counter = field(default_factory=Counter)
    gaps: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.gaps


def unique(records: list, key) -> tuple[dict, int]:
    """Records by their idempotency key, and how many were duplicates."""
    by_key = {}
    for _, _, value in records:
        record = orjson.loads(value)
        by_key.setdefault(key(record), record)
    return by_key, len(records) - len(by_key)


def reconcile(settings: Settings, max_gaps: int = 50, timeout_s: float = 60.0, database: bool = False) -> Report:
    report, counts = Report(), Counter()

    def read(event: str) -> list:
        return read_topic(settings, event, timeout_s)

    dead, counts["dead_letter_duplicates"] = unique(read("dead_letter"), lambda d: d["idempotency_key"])
    dead_at = {(d["source_topic"], d["source_partition"], d["source_offset"]): d for d in dead.values()}
    counts["dead_letters"] = len(dead)
    for reason, n in Counter(d["reason"] for d in dead.values()).items():
        counts[f"dead_letters.{reason}"] = n

    # State topics: a valid record goes to its table, anything else must be a dead letter.
    human = set()  # calls with a human label: they get no pseudo-label (when it came before the call's end)
    for event, schema in STATE_INPUTS.items():
        topic = settings.topic(event)
        for p, o, value in read(event):
            counts[f"in.{event}"] += 1
            if value is None and (topic, p, o) not in dead_at:  # a tombstone: its key was deleted from the table
                counts[f"deleted.{event}"] += 1
                continue
            try:
                record = decode(value, schema)
                if event == "human_label":
                    human.add(record.call_id)
            except DecodeError as exc:
                if (topic, p, o) not in dead_at:
                    report.gaps.append(f"{topic}[{p}]@{o}: invalid ({exc.reason}) but no dead letter")

    # Transcripts: each valid event is part of its call's final snapshot (start + segments + end) or a dead letter.
    finals, provisional = {}, set()
    attributions, counts["attribution_duplicates"] = unique(read("attribution"), lambda a: a["idempotency_key"])
    for a in attributions.values():
        if a["final"]:
            finals.setdefault(a["call_id"], {})[a["task"]] = a
        else:
            provisional.add(a["idempotency_key"])
    counts["attributions.final"] = sum(len(t) for t in finals.values())
    counts["calls.no_words"] = sum(1 for t in finals.values() if "alerts_withheld" in t.get("product", {}))
    counts["attributions.provisional"] = len(provisional)
    pseudo, counts["pseudo_label_duplicates"] = unique(read("pseudo_label"), lambda r: r["idempotency_key"])
    counts["pseudo_labels"] = len(pseudo)
    pseudo_calls = {r["call_id"] for r in pseudo.values()}
    alerts, counts["alert_duplicates"] = unique(read("alert"), lambda r: r["idempotency_key"])
    counts["alerts"] = len(alerts)
    counts["alerts.forbidden_phrase"] = sum(1 for a in alerts.values() if a["kind"] == "forbidden_phrase")
    scorecards, counts["scorecard_duplicates"] = unique(read("scorecard"), lambda r: r["idempotency_key"])
    counts["scorecards"] = len(scorecards)
    scored = {r["call_id"] for r in scorecards.values()}
    vectors, counts["call_vector_duplicates"] = unique(read("call_vector"), lambda r: r["idempotency_key"])
    counts["call_vectors"] = len(vectors)
    vectored = {(r["call_id"], r["task"]) for r in vectors.values()}
    # A final snapshot the attribution agent could not attribute is a dead letter of call_ready: its call is accounted.
    ready_dead = {_final_call(d) for d in dead.values() if d["source_topic"] == settings.topic("call_ready")} - {None}

    topic = settings.topic("transcript")
    events = defaultdict(int)
    for p, o, value in read("transcript"):
        counts["in.transcript"] += 1
        if (topic, p, o) in dead_at:
            continue
        try:
            events[decode(value, TRANSCRIPT_EVENTS).call_id] += 1
        except DecodeError as exc:
            report.gaps.append(f"{topic}[{p}]@{o}: invalid ({exc.reason}) but no dead letter")
    counts["calls"] = len(events)
    for call_id, n in sorted(events.items()):
        tasks = finals.get(call_id, {})
        if call_id in ready_dead:
            counts["calls.dead_lettered_at_attribution"] += 1
        elif set(tasks) != set(TASKS):
            report.gaps.append(f"call {call_id}: {n} transcript events, final attributions for {sorted(tasks) or 'no task'}")
        elif tasks["product"]["segment_count"] + 2 != n:
            report.gaps.append(f"call {call_id}: {n} transcript events, final attribution of "
                               f"{tasks['product']['segment_count']} segments + start + end")
        elif call_id not in human and call_id not in pseudo_calls and "alerts_withheld" not in tasks["product"]:
            report.gaps.append(f"call {call_id}: no human label and no pseudo-label")
        elif call_id not in scored:
            report.gaps.append(f"call {call_id}: final attributions but no scorecard")
        elif "alerts_withheld" not in tasks["product"] and not all((call_id, t) in vectored for t in tasks):
            report.gaps.append(f"call {call_id}: final attributions but no call vector for every task")
    extra = set(finals) - set(events)
    if extra:
        report.gaps.append(f"{len(extra)} calls with final attributions but no transcript events, e.g. {sorted(extra)[:3]}")
    if database:
        from streams.qadb.compare import compare_with_database

        stored, gaps = compare_with_database(settings, {"attributions": attributions, "alerts": alerts,
                                                        "scorecards": scorecards, "pseudo_labels": pseudo,
                                                        "dead_letters": dead, "call_vectors": vectors}, timeout_s)
        counts.update(stored)
        report.gaps += gaps
    report.counts = counts
    if len(report.gaps) > max_gaps:
        report.gaps[max_gaps:] = [f"... and {len(report.gaps) - max_gaps} more"]
    return report


def _final_call(dead: dict) -> str | None:
    """The call id of a dead-lettered final call_ready snapshot."""
    try:
        record = orjson.loads(base64.b64decode(dead["value_b64"]))
    except orjson.JSONDecodeError:
        return None
    return record.get("call_id") if isinstance(record, dict) and record.get("final") is True else None
