"""The tritonclient wrapper: texts in, normalised sentence vectors out, retried in place while Triton is away; and
the label vectors, cached per model version."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

import grpc
import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from streams.core.errors import CallqaError, InferenceRejected, TritonUnavailable
from streams.core.render import render_label

log = logging.getLogger(__name__)
# Triton's answer to a request it will never serve (the backends' TritonError(..., INVALID_ARG), a wrong shape or
# type): anything else (unavailable, overloaded, timed out, internal) may pass later.
REJECTED = {str(grpc.StatusCode.INVALID_ARGUMENT)}
TIMED_OUT = str(grpc.StatusCode.DEADLINE_EXCEEDED)
MAX_TIMEOUT_FACTOR = 8  # a request that timed out is sent again with twice the time, up to 8× CALLQA_TRITON_TIMEOUT_S


def classify(exc: InferenceServerException) -> CallqaError:
    """The error policy for Triton's answers: by gRPC status code, never by message text."""
    if exc.status() in REJECTED:
        return InferenceRejected(exc.message() or str(exc))
    return TritonUnavailable(f"{exc.status()}: {exc.message()}")


@dataclass(frozen=True)
class Embeddings:
    vectors: np.ndarray  # (n, dim), float32, L2-normalised
    model_version: str
    template_version: str


class Encoder(Protocol):
    async def embed(self, texts: list[str]) -> Embeddings: ...


class TritonEncoder:
    """A batch of texts goes out as `parallel` requests at once (at most `max_batch` texts each), so that every
    Triton instance works on it; requests that queue behind busy instances are merged by Triton's dynamic batcher."""

    def __init__(self, url: str, model: str, timeout_s: float = 10.0, max_batch: int = 64, parallel: int = 2,
                 backoff_s: float = 0.5, max_backoff_s: float = 10.0, ssl: bool = False, root_certificates: str | None = None,
                 on_health: Callable[[str, str], Awaitable[None]] | None = None) -> None:
        """`on_health(status, detail)` is awaited when Triton stops answering ("degraded") and when it is back ("ok")."""
        self.url, self.model, self.timeout_s, self.max_batch, self.parallel = url, model, timeout_s, max_batch, parallel
        self.backoff_s, self.max_backoff_s, self.on_health = backoff_s, max_backoff_s, on_health
        self.client = grpcclient.InferenceServerClient(url=url, ssl=ssl, root_certificates=root_certificates)
        self.degraded_since: float | None = None

    async def close(self) -> None:
        await self.client.close()

    async def embed(self, texts: list[str]) -> Embeddings:
        size = min(self.max_batch, max(1, -(-len(texts) // self.parallel)))
        chunks = [texts[i:i + size] for i in range(0, len(texts), size)]
        parts = await asyncio.gather(*(self._embed_chunk(chunk) for chunk in chunks))
        versions = {(p.model_version, p.template_version) for p in parts}
        if len(versions) > 1:  # a new model version was loaded between chunks: ask again
            return await self.embed(texts)
        return Embeddings(np.concatenate([p.vectors for p in parts]), parts[0].model_version, parts[0].template_version)

    async def _report(self, status: str, detail: str) -> None:
        if self.on_health is not None:
            await self.on_health(status, detail)

    async def _embed_chunk(self, texts: list[str]) -> Embeddings:
        data = np.array([[t.encode("utf-8")] for t in texts], dtype=np.object_)
        inputs = [grpcclient.InferInput("TEXT", list(data.shape), np_to_triton_dtype(data.dtype))]
        inputs[0].set_data_from_numpy(data)
        outputs = [grpcclient.InferRequestedOutput(n) for n in ("EMBEDDING", "MODEL_VERSION", "TEMPLATE_VERSION")]
        delay, timeout_s = self.backoff_s, self.timeout_s
        while True:
            try:
                result = await self.client.infer(self.model, inputs, outputs=outputs, client_timeout=timeout_s)
                break
            except InferenceServerException as exc:
                error = classify(exc)
                if isinstance(error, InferenceRejected):
                    raise error from exc
                if exc.status() == TIMED_OUT:
                    # Triton goes on with a request the client gave up on: sent again with the same deadline, a
                    # batch slower than it (a loaded CPU) would be computed again and again and never arrive.
                    timeout_s = min(timeout_s * 2, self.timeout_s * MAX_TIMEOUT_FACTOR)
                log.warning("triton %s unavailable (%s); retrying in %.1fs", self.url, error, delay)
                if self.degraded_since is None:
                    self.degraded_since = time.monotonic()
                    await self._report("degraded", f"triton {self.url} unavailable ({exc.status()}); retrying with backoff")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
        if self.degraded_since is not None:
            away_s, self.degraded_since = time.monotonic() - self.degraded_since, None
            log.warning("triton %s back after %.1fs", self.url, away_s)
            await self._report("ok", f"triton {self.url} back after {away_s:.1f}s")
        return Embeddings(
            result.as_numpy("EMBEDDING").astype(np.float32),
            result.as_numpy("MODEL_VERSION")[0][0].decode(),
            result.as_numpy("TEMPLATE_VERSION")[0][0].decode(),
        )


class LabelVectors:
    """Label vectors per (label id, label text), valid for one model version. Missing ones are embedded `slice_size`
    at a time: a catalog of thousands sent at once would queue past the client's timeout in Triton and be sent again
    and again (seen with 5,000 labels: the first call never finished)."""

    def __init__(self, slice_size: int = 128) -> None:
        self.model_version: str | None = None
        self.vectors: dict[tuple[str, str], np.ndarray] = {}
        self.slice_size = slice_size

    async def lookup(self, encoder: Encoder, candidates: list[dict], model_version: str) -> dict | None:
        """Vectors of `candidates` under `model_version`; None when Triton has moved to another version meanwhile."""
        if model_version != self.model_version:
            self.vectors.clear()
            self.model_version = model_version
        keys = {(l["label_id"], render_label(l)) for l in candidates}
        found = {k: self.vectors[k] for k in keys if k in self.vectors}
        missing = sorted(keys - found.keys())
        for start in range(0, len(missing), self.slice_size):
            part = missing[start:start + self.slice_size]
            embedded = await encoder.embed([text for _, text in part])
            if embedded.model_version != model_version:
                return None
            fresh = dict(zip(part, embedded.vectors))
            if self.model_version == model_version:  # another batch in flight may have met a newer version meanwhile
                self.vectors.update(fresh)
            found.update(fresh)
        return found
