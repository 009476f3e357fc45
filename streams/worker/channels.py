"""Faust handles of callqa's topics: raw bytes in and out, decoded and validated by streams.core.codec."""
from __future__ import annotations

import faust

from streams.core.settings import Settings
from streams.core.topics import REPARTITIONED, repartition_topic


class Channels:
    def __init__(self, app: faust.App, settings: Settings) -> None:
        def topic(*names: str):
            return app.topic(*names, key_serializer="raw", value_serializer="raw")

        def with_repartition(event: str):
            """The input topic and the worker's own repartition topic of it, read by one agent (streams.core.topics)."""
            return topic(settings.topic(event), repartition_topic(settings, event))

        self.transcript = with_repartition("transcript")
        self.account = with_repartition("account")
        self.label = topic(settings.topic("label"))
        self.rule = topic(settings.topic("rule"))
        self.human_label = with_repartition("human_label")
        self.repartition = {event: topic(repartition_topic(settings, event)) for event in REPARTITIONED}
        self.call_ready = topic(settings.topic("call_ready"))
        self.attribution = topic(settings.topic("attribution"))
        self.alert = topic(settings.topic("alert"))
        self.scorecard = topic(settings.topic("scorecard"))
        self.call_vector = topic(settings.topic("call_vector"))
        self.pseudo_label = topic(settings.topic("pseudo_label"))
        self.attribution_by_label = topic(settings.topic("attribution_by_label"))
        self.label_count = topic(settings.topic("label_count"))
        self.health = topic(settings.topic("health"))
        self.dead_letter = topic(settings.topic("dead_letter"))
