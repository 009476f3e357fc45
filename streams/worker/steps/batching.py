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


async def in_input_order(batches, infer, finish, depth: int) -> None:
    """Run `infer(batch)` for up to `depth` batches at once (Triton works on one batch while the worker plans the next
    and publishes the last), and `await finish(batch, outcome)` for each batch in input order, `outcome` being what
    infer returned or the exception it raised. A batch whose inference ends first still waits for every earlier
    batch's finish: its acks must never commit offsets of calls whose outputs are not sent yet."""
    slots = asyncio.Semaphore(depth)
    running: set[asyncio.Task] = set()

    async def run(batch, before: asyncio.Task | None) -> None:
        try:
            try:
                outcome = await infer(batch)
            except Exception as exc:  # noqa: BLE001 - handed to finish, which accounts for the batch
                outcome = exc
            if before is not None:
                await before  # an earlier batch that failed to finish stops the chain: nothing after it is acked
            await finish(batch, outcome)
        finally:
            slots.release()

    last: asyncio.Task | None = None
    try:
        async for batch in batches:
            await slots.acquire()
            if last is not None and last.done() and last.exception() is not None:
                raise RuntimeError("a batch could not be finished") from last.exception()
            last = asyncio.ensure_future(run(batch, last))
            running.add(last)
            last.add_done_callback(running.discard)
        if running:
            await asyncio.gather(*running)
    finally:
        for task in running:
            task.cancel()
