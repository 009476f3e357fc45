"""Changelog-backed state: accounts and human labels per key, the label catalog on every worker, calls in progress."""
from __future__ import annotations

from datetime import timedelta

from streams.app import app, settings

# Co-partitioned with their input topics (same key, same partition count): a key's state lives on the
# worker that owns the key's partition.
accounts = app.Table("accounts", default=None, partitions=settings.partitions)
human_labels = app.Table("human_labels", default=None, partitions=settings.partitions)
calls = app.Table("calls", default=None, partitions=settings.partitions)
# The catalog is small and every worker needs all of it. One partition avoids faust's GlobalTable
# recovery loop with several workers (see faust.tables.globaltable).
labels = app.GlobalTable("labels", default=None, partitions=1, recovery_buffer_size=1)
# Final attributions per label and minute (tumbling windows on the attribution's time, kept 90 minutes). The 5, 15
# and 60-minute counts are sums of the last windows: one changelog write per attribution, where hopping windows of
# 60 minutes stepping by one would write 60.
label_minutes = app.Table("label_minutes", default=int, partitions=settings.partitions).tumbling(
    60, expires=timedelta(minutes=90)).relative_to_stream()
