"""Segments assembled per call (streams.worker.steps.assembly) in the calls table; provisional and final snapshots go
to the call_ready topic, keyed by user_id. A forbidden phrase (streams.worker.steps.rules) alerts as its segment
arrives."""
from __future__ import annotations

from streams.core.codec import encode
from streams.core.errors import DecodeError
from streams.core.records import TRANSCRIPT_EVENTS, Segment, TranscriptEvent
from streams.worker.context import Worker
from streams.worker.steps.assembly import CallLimits, apply, snapshot
from streams.worker.steps.outputs import forbidden_alert

MAX_TS_MS = 4102444800000  # the schemas' bound on epoch milliseconds


def register(worker: Worker) -> None:
    calls, human_labels, call_ready, alert = (worker.tables.calls, worker.tables.human_labels, worker.channels.call_ready,
                                              worker.channels.alert)
    limits = CallLimits.from_settings(worker.settings)

    async def assemble_event(event_, event: TranscriptEvent) -> None:
        message = event_.message
        _, partition, offset = worker.dead_letters.origin(message)  # forwarded by the repartition topic: where it came in
        call_id = event.call_id
        old = calls.get(call_id)
        position = f"{partition}@{offset}"
        state, emit, reason = apply(old, event, position, limits)
        if reason is not None:
            raise DecodeError(reason, f"call {call_id}: {event.type}")
        if state is not old:
            calls[call_id] = state
        if isinstance(event, Segment) and state["segments"][str(event.seq)]["at"] == position:
            # Also for a segment redelivered after a crash: its alert may not have been sent (the key de-duplicates).
            text = state["segments"][str(event.seq)]["text"]
            for rule, phrase in worker.rules.current().forbidden(text, event.speaker):
                await alert.send(key=call_id.encode(), value=encode(forbidden_alert(event, rule, phrase)))
        if emit is not None:
            # The producer sets the record's time: keep it within the schemas' bounds.
            trigger_ts = min(max(int(message.timestamp * 1000), 0), MAX_TS_MS)
            expected = event.segment_count if emit == "final" else None
            ready = snapshot(call_id, state, emit == "final", trigger_ts, human_labels.get(call_id) is not None, expected)
            await call_ready.send(key=state["user_id"].encode(), value=encode(ready))

    @worker.app.agent(worker.channels.transcript, name="callqa.assemble")
    async def assemble(stream):
        await worker.dead_letters.each_record(stream, TRANSCRIPT_EVENTS, assemble_event, key_field="call_id",
                                              repartition="transcript")
