"""Attributions per label over the last 5 / 15 / 60 minutes (a windowed table), published for the dashboard."""
from __future__ import annotations

import logging
import time

from streams.app import app, settings
from streams.channels import attribution_by_label_topic, attribution_topic, label_count_topic
from streams.codec import encode, now_ms
from streams.deadletter import each_record
from streams.tables import label_minutes, labels

log = logging.getLogger(__name__)
WINDOWS = {"5m": 5, "15m": 15, "60m": 60}  # name -> minutes, the current one included
MINUTE_S = 60


def window_counts(label_id: str, label: dict, per_minute: dict[float, int], now_s: float) -> dict:
    """The label_count record of one label from its counts per minute start (epoch seconds)."""
    current = now_s // MINUTE_S * MINUTE_S
    series = [{"minute": int((current - MINUTE_S * i) * 1000), "count": per_minute.get(current - MINUTE_S * i, 0)}
              for i in range(59, -1, -1)]
    counts = {name: sum(m["count"] for m in series[-n:]) for name, n in WINDOWS.items()}
    return {
        "label_id": label_id, "task": label["task"], "label_name": label["name"], "counts": counts,
        # Rising fastest: this 5 minutes' rate against the 10 minutes before.
        "rise": round(counts["5m"] / 5 - (counts["15m"] - counts["5m"]) / 10, 3),
        "per_minute": series, "window_end": int((current + MINUTE_S) * 1000), "produced_at": now_ms(),
    }


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
        await label_count_topic.send(key=label_id.encode(), value=encode(window_counts(label_id, label, per_minute, now_s)))


@app.agent(attribution_topic, name="callqa.route_by_label")
async def route_by_label(stream):
    """Final attributions re-keyed by label, so that one worker counts each label; stamped with their own time."""
    async def route(event_, attribution: dict) -> None:
        if attribution["final"]:
            await attribution_by_label_topic.send(key=attribution["label_id"].encode(), value=event_.message.value,
                                                  timestamp=attribution["produced_at"] / 1000)

    await each_record(stream, "attribution", route, normalise=False)


@app.agent(attribution_by_label_topic, name="callqa.count_labels")
async def count_labels(stream):
    async def count(_, attribution: dict) -> None:
        label_minutes[attribution["label_id"]] += 1
        await publish_counts(only=attribution["label_id"])

    await each_record(stream, "attribution", count, normalise=False)


@app.timer(interval=settings.label_count_every_s)
async def republish_counts() -> None:
    """Windows move on without new attributions: republish every label this worker counts, so counts fall too."""
    await publish_counts()
