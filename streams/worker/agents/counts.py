"""Attributions per label over the last 5 / 15 / 60 minutes (a windowed table), published for the dashboard. The input
is the final attributions keyed by label, so that one worker counts each label; the attribution agent sends them
(reading them back off the attribution topic would read every provisional one too)."""
from __future__ import annotations

import time

from streams.core.codec import encode
from streams.core.records import Attribution
from streams.worker.context import Worker
from streams.worker.steps.outputs import window_counts


def register(worker: Worker) -> None:
    app, channels, labels, label_minutes = worker.app, worker.channels, worker.tables.labels, worker.tables.label_minutes

    def minutes_by_label(only: str | None = None) -> dict[str, dict[float, int]]:
        """This worker's windows of the table: {label_id: {minute start: count}}."""
        found: dict[str, dict[float, int]] = {}
        for (label_id, (start, _end)), count in label_minutes.table.items():
            if only is None or label_id == only:
                minutes = found.setdefault(label_id, {})
                minutes[float(start)] = minutes.get(float(start), 0) + count
        return found

    async def publish_counts(only: str | None = None) -> None:
        now_s = time.time()
        for label_id, per_minute in minutes_by_label(only).items():
            label = labels.get(label_id)
            if label is None:  # gone from the catalog: nobody can read a name for it
                continue
            await channels.label_count.send(key=label_id.encode(),
                                            value=encode(window_counts(label_id, label, per_minute, now_s)))

    @app.agent(channels.attribution_by_label, name="callqa.count_labels")
    async def count_labels(stream):
        """Counted by the attribution's own time (the record's timestamp), so windows are the same after a replay."""
        async def count(_, attribution: Attribution) -> None:
            label_minutes[attribution.label_id] += 1
            await publish_counts(only=attribution.label_id)

        await worker.dead_letters.each_record(stream, "attribution", count, normalise=False)

    @app.timer(interval=worker.settings.label_count_every_s)
    async def republish_counts() -> None:
        """Windows move on without new attributions: republish every label this worker counts, so counts fall too."""
        await publish_counts()
