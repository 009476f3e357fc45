"""Changelog-backed state: accounts and human labels per key, the label catalog and the QA rules on every worker,
calls in progress.
Values keep the records' JSON form (faust serialises them as JSON)."""
from __future__ import annotations

from datetime import timedelta

import faust

from streams.core.settings import Settings


class Tables:
    def __init__(self, app: faust.App, settings: Settings) -> None:
        # Co-partitioned with their input topics (same key, same partition count): a key's state lives on the
        # worker that owns the key's partition.
        self.accounts = app.Table("accounts", default=None, partitions=settings.partitions)
        self.human_labels = app.Table("human_labels", default=None, partitions=settings.partitions)
        self.calls = app.Table("calls", default=None, partitions=settings.partitions)
        # The catalog is small and every worker needs all of it. One partition avoids faust's GlobalTable
        # recovery loop with several workers (see faust.tables.globaltable).
        self.labels = app.GlobalTable("labels", default=None, partitions=1, recovery_buffer_size=1)
        self.rules = app.GlobalTable("rules", default=None, partitions=1, recovery_buffer_size=1)  # the QA rules, alike
        # Final attributions per label and minute (tumbling windows on the attribution's time, kept 90 minutes). The
        # 5, 15 and 60-minute counts are sums of the last windows: one changelog write per attribution, where hopping
        # windows of 60 minutes stepping by one would write 60.
        self.label_minutes = app.Table("label_minutes", default=int, partitions=settings.partitions).tumbling(
            60, expires=timedelta(minutes=90)).relative_to_stream()
