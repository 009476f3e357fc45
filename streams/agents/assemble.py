"""Segments assembled per call; provisional and final snapshots go to the call_ready topic, keyed by user_id.

At-least-once: after a crash the calls table (restored from its changelog) can be ahead of the committed input
offsets, so events come again that are already applied. Each applied event's position (partition@offset) is kept in
the call's state: a redelivered event changes nothing, and a redelivered call_end emits the final snapshot again
(its first one may not have been produced), so the call's segments stay in its closed state."""
from __future__ import annotations

import logging

from streams.app import app, settings
from streams.channels import call_ready_topic, transcript_topic
from streams.codec import encode, now_ms
from streams.deadletter import decoded, send_dead_letter
from streams.tables import calls, human_labels

log = logging.getLogger(__name__)
MAX_MISSING_LISTED = 100  # a call_end with an absurd segment_count must not make a huge snapshot
TRANSCRIPT_EVENTS = {"call_start": "call_start", "segment": "segment", "call_end": "call_end"}


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
    segments = dict(state["segments"])
    segments[seq] = {**{k: event[k] for k in ("speaker", "text", "start_ms", "end_ms")}, "at": position}
    state = {**state, "segments": segments}
    every = settings.provisional_every
    emit = "provisional" if every and len(segments) % every == 0 else None
    return state, emit, None


@app.agent(transcript_topic, name="callqa.assemble")
async def assemble(stream):
    async for event_, event in decoded(stream, TRANSCRIPT_EVENTS):
        message = event_.message
        call_id, old = event["call_id"], calls.get(event["call_id"])
        state, emit, reason = apply(old, event, f"{message.partition}@{message.offset}")
        if reason is not None:
            await send_dead_letter(message, reason, f"call {call_id}: {event['type']}")
            continue
        if state is not old:
            calls[call_id] = state
        if emit is not None:
            trigger_ts = int(message.timestamp * 1000)
            expected = event["segment_count"] if emit == "final" else None
            ready = snapshot(call_id, state, emit == "final", trigger_ts, expected)
            await call_ready_topic.send(key=state["user_id"].encode(), value=encode(ready))
