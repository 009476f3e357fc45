"""Segments assembled per call; provisional and final snapshots go to the call_ready topic, keyed by user_id.

At-least-once: after a crash the calls table (restored from its changelog) can be ahead of the committed input
offsets, so events come again that are already applied. Each applied event's position (partition@offset) is kept in
the call's state: a redelivered event changes nothing, and a redelivered call_end emits the final snapshot again
(its first one may not have been produced), so the call's segments stay in its closed state."""
from __future__ import annotations

import logging

from streams.app import app, settings
from streams.channels import call_ready_topic, transcript_topic
from streams.codec import DecodeError, encode, now_ms
from streams.deadletter import each_record, origin
from streams.render import has_words
from streams.tables import calls, human_labels

log = logging.getLogger(__name__)
MAX_MISSING_LISTED = 100  # a call_end with an absurd segment_count must not make a huge snapshot
TRANSCRIPT_EVENTS = {"call_start": "call_start", "segment": "segment", "call_end": "call_end"}
MAX_TS_MS = 4102444800000  # the schemas' bound on epoch milliseconds


def snapshot(call_id: str, state: dict, final: bool, trigger_ts: int, expected: int | None = None) -> dict:
    """The call as the attribution agent needs it: turns in sequence order, gaps named."""
    seqs = sorted(int(s) for s in state["segments"])
    expected = expected if expected is not None else (seqs[-1] + 1 if seqs else 0)
    present = set(seqs)
    return {
        "call_id": call_id,
        "user_id": state["user_id"],
        "final": final,
        "turns": [{"speaker": state["segments"][str(s)]["speaker"], "text": state["segments"][str(s)]["text"]} for s in seqs],
        "segment_count": len(seqs),
        "missing_seqs": [s for s in range(expected) if s not in present][:MAX_MISSING_LISTED],
        "has_human_label": human_labels.get(call_id) is not None,
        "trigger_ts": trigger_ts,
        "ready_ts": now_ms(),
    }


def applied(state: dict) -> set[str]:
    """Positions (partition@offset) of the events already in the call's state."""
    return {state.get("start"), state.get("end")} | {s.get("at") for s in state["segments"].values()}


def apply(state: dict | None, event: dict, position: str | None = None) -> tuple[dict | None, str | None, str | None]:
    """Apply one transcript event read at `position` to the call's state: (new state, emit 'provisional'|'final'|None,
    dead-letter reason). An event redelivered after a crash returns the state unchanged."""
    kind = event["type"]
    if state is not None and position is not None and position in applied(state):
        return state, "final" if kind == "call_end" else None, None
    if kind == "call_start":
        if state is not None:
            return state, None, "call_restarted"
        return {"user_id": event["user_id"], "started_at": event["event_time"], "segments": {}, "closed": False,
                "start": position}, None, None
    if state is None:
        return None, None, "unknown_call"
    if state["closed"]:
        return state, None, "segment_after_end" if kind == "segment" else "duplicate_end"
    if kind == "call_end":
        return {**state, "closed": True, "end": position}, "final", None
    seq = str(event["seq"])
    if seq in state["segments"]:
        return state, None, "duplicate_segment"
    # A segment whose text carries no words (only emoji, punctuation, or nothing left after normalisation) counts,
    # with no text. The call's size is bounded: its state and snapshots must fit in one Kafka record.
    text = event["text"] if has_words(event["text"]) else ""
    chars = state.get("chars", 0) + len(text)
    if len(state["segments"]) >= settings.max_call_segments or chars > settings.max_call_chars:
        return state, None, "call_too_large"
    segments = dict(state["segments"])
    segments[seq] = {"speaker": event["speaker"], "text": text, "start_ms": event["start_ms"], "end_ms": event["end_ms"],
                     "at": position}
    state = {**state, "segments": segments, "chars": chars}
    every = settings.provisional_every
    emit = "provisional" if every and len(segments) % every == 0 else None
    return state, emit, None


async def assemble_event(event_, event: dict) -> None:
    message = event_.message
    _, partition, offset = origin(message)  # a record forwarded through the repartition topic: where it came in
    call_id, old = event["call_id"], calls.get(event["call_id"])
    state, emit, reason = apply(old, event, f"{partition}@{offset}")
    if reason is not None:
        raise DecodeError(reason, f"call {call_id}: {event['type']}")
    if state is not old:
        calls[call_id] = state
    if emit is not None:
        # The producer sets the record's time: keep it within the schemas' bounds.
        trigger_ts = min(max(int(message.timestamp * 1000), 0), MAX_TS_MS)
        expected = event["segment_count"] if emit == "final" else None
        ready = snapshot(call_id, state, emit == "final", trigger_ts, expected)
        await call_ready_topic.send(key=state["user_id"].encode(), value=encode(ready))


@app.agent(transcript_topic, name="callqa.assemble")
async def assemble(stream):
    await each_record(stream, TRANSCRIPT_EVENTS, assemble_event, key_field="call_id", repartition="transcript")
