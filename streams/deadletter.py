"""Dead letters: the original bytes, where they came from and why they were not processed."""
from __future__ import annotations

import logging

from streams.app import app, settings
from streams.codec import DecodeError, dead_letter, decode, encode

log = logging.getLogger(__name__)
dead_letter_topic = app.topic(settings.topic("dead_letter"), key_serializer="raw", value_serializer="raw")


async def send_dead_letter(message, reason: str, detail: str) -> None:
    """`message` is the faust Message whose record could not be processed."""
    log.warning("dead letter %s[%s]@%s: %s %s", message.topic, message.partition, message.offset, reason, detail[:200])
    record = dead_letter(message.value, message.key, message.topic, message.partition, message.offset, reason, detail,
                         settings.dead_letter_max_bytes)
    await dead_letter_topic.send(key=message.key, value=encode(record))


async def decoded(stream, event):
    """Each faust event of `stream` with its record decoded as `event` (see codec.decode); a record that does not
    decode goes to the dead-letter topic with its reason, and the stream goes on."""
    async for event_ in stream.events():
        try:
            record = decode(event_.message.value, event)
        except DecodeError as exc:
            await send_dead_letter(event_.message, exc.reason, exc.detail)
            continue
        yield event_, record
