"""Micro-batches of a faust stream that the caller acks, not the batcher."""
from __future__ import annotations

import asyncio
import contextlib


async def micro_batches(stream, size: int, window_s: float):
    """Up to `size` events, waiting at most `window_s` after the first, never acked here. faust's take_events acks
    its batch when its generator is closed, so a worker stopped in the middle of a batch committed calls it had not
    attributed; here the caller acks each batch once its outputs are sent."""
    queue: asyncio.Queue = asyncio.Queue(maxsize=size)

    async def read() -> None:
        try:
            async for event in stream.events():
                await queue.put(event)
        except BaseException as exc:  # wake the batcher: a reader that died must not leave it waiting forever
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(exc)
            raise

    def checked(item):
        if isinstance(item, BaseException):
            raise RuntimeError("the call_ready reader stopped") from item
        return item

    reader = asyncio.ensure_future(read())
    loop = asyncio.get_running_loop()
    try:
        while True:
            batch = [checked(await queue.get())]
            deadline = loop.time() + window_s
            while len(batch) < size and (left := deadline - loop.time()) > 0:
                try:
                    batch.append(checked(await asyncio.wait_for(queue.get(), left)))
                except asyncio.TimeoutError:
                    break
            yield batch
    finally:
        reader.cancel()
