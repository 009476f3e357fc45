"""Segments assembled per call; provisional and final snapshots go to the call_ready topic, keyed by user_id."""
from __future__ import annotations

import logging

from streams.app import app, settings
from streams.channels import call_ready_topic, transcript_topic
from streams.codec import DecodeError, decode, encode, now_ms
from streams.deadletter import send_dead_letter
from streams.tables import calls, human_labels

log = logging.getLogger(__name__)
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
        "missing_seqs": [s for s in range(expected) if s not in present],
        "has_human_label": human_labels.get(call_id) is not None,
        "trigger_ts": trigger_ts,
        "ready_ts": now_ms(),
    }


def apply(state: dict | None, event: dict) -> tuple[dict | None, str | None, str | None]:
    """Apply one transcript event to the call's state: (new state, emit 'provisional'|'final'|None, dead-letter reason)."""
    kind = event["type"]
    if kind == "call_start":
        if state is not None:
            return state, None, "call_restarted"
        return {"user_id": event["user_id"], "started_at": event["event_time"], "segments": {}, "closed": False}, None, None
    if state is None:
        return None, None, "unknown_call"
    if state["closed"]:
        return state, None, "segment_after_end" if kind == "segment" else "duplicate_end"
    if kind == "call_end":
        return state, "final", None
    seq = str(event["seq"])
    if seq in state["segments"]:
        return state, None, "duplicate_segment"
    segments = dict(state["segments"])
    segments[seq] = {k: event[k] for k in ("speaker", "text", "start_ms", "end_ms")}
    state = {**state, "segments": segments}
    every = settings.provisional_every
    emit = "provisional" if every and len(segments) % every == 0 else None
    return state, emit, None


@app.agent(transcript_topic, name="callqa.assemble")
async def assemble(stream):
    async for event_ in stream.events():
        message = event_.message
        try:
            event = decode(message.value, TRANSCRIPT_EVENTS)
        except DecodeError as exc:
            await send_dead_letter(message, exc.reason, exc.detail)
            continue
        call_id = event["call_id"]
        state, emit, reason = apply(calls.get(call_id), event)
        if reason is not None:
            await send_dead_letter(message, reason, f"call {call_id}: {event['type']}")
            continue
        trigger_ts = int(message.timestamp * 1000)
        if emit == "final":
            ready = snapshot(call_id, state, True, trigger_ts, expected=event["segment_count"])
            # Keep a small closed marker so late segments are recognised as such.
            calls[call_id] = {"user_id": state["user_id"], "started_at": state["started_at"], "segments": {}, "closed": True}
        else:
            calls[call_id] = state
            ready = snapshot(call_id, state, False, trigger_ts) if emit == "provisional" else None
        if ready is not None:
            await call_ready_topic.send(key=state["user_id"].encode(), value=encode(ready))
