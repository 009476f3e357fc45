"""Faust handles of callqa's topics: raw bytes in and out, decoded and validated by streams.codec."""
from __future__ import annotations

from streams.app import app, settings


def _topic(event: str):
    return app.topic(settings.topic(event), key_serializer="raw", value_serializer="raw")


transcript_topic = _topic("transcript")
account_topic = _topic("account")
label_topic = _topic("label")
human_label_topic = _topic("human_label")
call_ready_topic = _topic("call_ready")
attribution_topic = _topic("attribution")
alert_topic = _topic("alert")
pseudo_label_topic = _topic("pseudo_label")
attribution_by_label_topic = _topic("attribution_by_label")
label_count_topic = _topic("label_count")
health_topic = _topic("health")
