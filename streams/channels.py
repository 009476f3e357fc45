"""Faust handles of callqa's topics: raw bytes in and out, decoded and validated by streams.codec."""
from __future__ import annotations

from streams.app import app, settings
from streams.topics import REPARTITIONED, repartition_topic


def _topic(event: str):
    return app.topic(settings.topic(event), key_serializer="raw", value_serializer="raw")


def _with_repartition(event: str):
    """The input topic and the worker's own repartition topic of it, read by one agent (see streams.topics)."""
    return app.topic(settings.topic(event), repartition_topic(settings, event), key_serializer="raw", value_serializer="raw")


transcript_topic = _with_repartition("transcript")
account_topic = _with_repartition("account")
label_topic = _topic("label")
human_label_topic = _with_repartition("human_label")
repartition_topics = {event: app.topic(repartition_topic(settings, event), key_serializer="raw", value_serializer="raw")
                      for event in REPARTITIONED}
call_ready_topic = _topic("call_ready")
attribution_topic = _topic("attribution")
alert_topic = _topic("alert")
pseudo_label_topic = _topic("pseudo_label")
attribution_by_label_topic = _topic("attribution_by_label")
label_count_topic = _topic("label_count")
health_topic = _topic("health")
