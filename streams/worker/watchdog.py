"""Exit when an input partition stops moving: faust can leave an assigned partition unconsumed after a rebalance
(seen in the SIGKILL + rebalance test: one call_ready partition, 101 records behind, never fetched again; known
upstream as consumers that silently stop). Delivery is at-least-once, so the way out is a restart: the worker exits
and its supervisor (Kubernetes; `streams.tools.stack.Supervisor` in `callqa up`, the demo and the tests) starts it
again."""
from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING

from streams.core.topics import REPARTITIONED, repartition_topic

if TYPE_CHECKING:
    from streams.worker.context import Worker

log = logging.getLogger(__name__)
EXIT_STALLED = 70
INPUT_EVENTS = ("transcript", "call_ready", "account", "label", "human_label")


class Progress:
    """Each input partition's committed offset and since when it has stood still."""

    def __init__(self) -> None:
        self.triton_degraded = False  # set by the attribution agent: waiting for Triton is not a stall
        self.seen: dict = {}  # tp -> (committed offset, since when)

    def check(self, committed: dict, highwater: dict, now: float, timeout_s: float) -> list:
        """The partitions whose committed offset has stayed below their high watermark for `timeout_s`."""
        stalled = []
        for tp, high in highwater.items():
            offset = committed.get(tp) or 0
            last = self.seen.get(tp)
            if last is None or last[0] != offset or offset >= high:
                self.seen[tp] = (offset, now)
            elif now - last[1] >= timeout_s:
                stalled.append(tp)
        for tp in set(self.seen) - set(highwater):  # revoked
            del self.seen[tp]
        return stalled


def register(worker: Worker) -> None:
    app, settings, progress = worker.app, worker.settings, worker.progress
    inputs = ({settings.topic(event) for event in INPUT_EVENTS}
              | {repartition_topic(settings, event) for event in REPARTITIONED})

    @app.timer(interval=10.0)
    async def watch_progress() -> None:
        if not settings.stall_timeout_s or progress.triton_degraded or app.rebalancing or app.in_recovery:
            progress.seen.clear()  # waiting for Triton, or a rebalance / table recovery in progress: not a stall
            return
        consumer = app.consumer
        assigned = [tp for tp in consumer.assignment() if tp.topic in inputs]
        highwater = {tp: consumer.highwater(tp) for tp in assigned}
        committed = {tp: consumer._committed_offset.get(tp) for tp in assigned}  # faust keeps no public accessor
        stalled = progress.check(committed, {tp: h for tp, h in highwater.items() if h is not None}, time.monotonic(),
                                 settings.stall_timeout_s)
        if stalled:
            log.error("no progress for %.0fs on %s with records waiting: exiting (%d) to be restarted",
                      settings.stall_timeout_s, ", ".join(f"{tp.topic}[{tp.partition}]@{committed[tp]}<{highwater[tp]}"
                                                          for tp in stalled), EXIT_STALLED)
            logging.shutdown()
            os._exit(EXIT_STALLED)  # not a graceful stop: that can hang in the same stall; uncommitted input comes again
