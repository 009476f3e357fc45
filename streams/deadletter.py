"""Dead letters: the original bytes, where they came from and why they were not processed."""
from __future__ import annotations

import logging

from streams.app import app, settings
from streams.codec import dead_letter, encode

log = logging.getLogger(__name__)
dead_letter_topic = app.topic(settings.topic("dead_letter"), key_serializer="raw", value_serializer="raw")


async def send_dead_letter(message, reason: str, detail: str) -> None:
    """`message` is the faust Message whose record could not be processed."""
    log.warning("dead letter %s[%s]@%s: %s %s", message.topic, message.partition, message.offset, reason, detail[:200])
    record = dead_letter(message.value, message.key, message.topic, message.partition, message.offset, reason, detail,
                         settings.dead_letter_max_bytes)
    await dead_letter_topic.send(key=message.key, value=encode(record))
