"""The assembly rules (pure): a call's state from its transcript events, and its call_ready snapshot.

At-least-once: after a crash the calls table (restored from its changelog) can be ahead of the committed input
offsets, so events come again that are already applied. Each applied event's position (partition@offset) is kept in
the call's state: a redelivered event changes nothing, and a redelivered call_end emits the final snapshot again
(its first one may not have been produced), so the call's segments stay in its closed state."""
from __future__ import annotations

from dataclasses import dataclass

from streams.core.codec import now_ms
from streams.core.records import CallEnd, CallReady, CallStart, TranscriptEvent
from streams.core.render import has_words
from streams.core.settings import Settings

MAX_MISSING_LISTED = 100  # a call_end with an absurd segment_count must not make a huge snapshot


@dataclass(frozen=True)
class CallLimits:
    """A call's state (and its snapshots) is one Kafka record: segments past these bounds are dead letters."""
    max_segments: int
    max_chars: int
    provisional_every: int  # segments between provisional snapshots; 0: none

    @classmethod
    def from_settings(cls, settings: Settings) -> CallLimits:
        return cls(settings.max_call_segments, settings.max_call_chars, settings.provisional_every)


DEFAULT_LIMITS = CallLimits(*(Settings.model_fields[name].default  # the defaults, not this environment's
                                for name in ("max_call_segments", "max_call_chars", "provisional_every")))


def snapshot(call_id: str, state: dict, final: bool, trigger_ts: int, has_human_label: bool,
             expected: int | None = None) -> CallReady:
    """The call as the attribution agent needs it: turns in sequence order, gaps named."""
    seqs = sorted(int(s) for s in state["segments"])
    expected = expected if expected is not None else (seqs[-1] + 1 if seqs else 0)
    present = set(seqs)
    segments = state["segments"]
    return CallReady(
        call_id=call_id,
        user_id=state["user_id"],
        agent_id=state.get("agent_id"),
        started_at=state.get("started_at"),
        final=final,
        turns=[{"speaker": segments[str(s)]["speaker"], "text": segments[str(s)]["text"], "seq": s,
                "start_ms": segments[str(s)]["start_ms"], "end_ms": segments[str(s)]["end_ms"]} for s in seqs],
        segment_count=len(seqs),
        missing_seqs=[s for s in range(expected) if s not in present][:MAX_MISSING_LISTED],
        has_human_label=has_human_label,
        trigger_ts=trigger_ts,
        ready_ts=now_ms(),
    )


def applied(state: dict) -> set[str]:
    """Positions (partition@offset) of the events already in the call's state."""
    return {state.get("start"), state.get("end")} | {s.get("at") for s in state["segments"].values()}


def apply(state: dict | None, event: TranscriptEvent, position: str | None = None,
          limits: CallLimits = DEFAULT_LIMITS) -> tuple[dict | None, str | None, str | None]:
    """Apply one transcript event read at `position` to the call's state: (new state, emit 'provisional'|'final'|None,
    dead-letter reason). An event redelivered after a crash returns the state unchanged."""
    final = isinstance(event, CallEnd)
    if state is not None and position is not None and position in applied(state):
        return state, "final" if final else None, None
    if isinstance(event, CallStart):
        if state is not None:
            return state, None, "call_restarted"
        return {"user_id": event.user_id, "agent_id": event.agent_id, "started_at": event.event_time, "segments": {},
                "closed": False, "start": position}, None, None
    if state is None:
        return None, None, "unknown_call"
    if state["closed"]:
        return state, None, "duplicate_end" if final else "segment_after_end"
    if final:
        return {**state, "closed": True, "end": position}, "final", None
    seq = str(event.seq)
    if seq in state["segments"]:
        return state, None, "duplicate_segment"
    # A segment whose text carries no words (only emoji, punctuation, or nothing left after normalisation) counts,
    # with no text. The call's size is bounded: its state and snapshots must fit in one Kafka record.
    text = event.text if has_words(event.text) else ""
    chars = state.get("chars", 0) + len(text)
    if len(state["segments"]) >= limits.max_segments or chars > limits.max_chars:
        return state, None, "call_too_large"
    segments = dict(state["segments"])
    segments[seq] = {"speaker": event.speaker, "text": text, "start_ms": event.start_ms, "end_ms": event.end_ms,
                     "at": position}
    state = {**state, "segments": segments, "chars": chars}
    every = limits.provisional_every
    emit = "provisional" if every and len(segments) % every == 0 else None
    return state, emit, None
