"""Micro-batched attribution: plan, embed through Triton (several batches in flight), match, publish in input order,
and only then ack (streams.worker.steps)."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import numpy as np

from streams.core.codec import encode, now_ms
from streams.core.errors import InferenceRejected, TemplateMismatch
from streams.core.redact import redact
from streams.core.render import render_context, render_dialogue, render_label
from streams.core.settings import Settings
from streams.core.summarise import summarise
from streams.worker.context import Worker
from streams.worker.steps.batching import in_input_order, micro_batches
from streams.worker.steps.candidates import Request, plan
from streams.worker.steps.encoder import Embeddings, Encoder, LabelVectors, TritonEncoder
from streams.worker.steps.match import match_labels
from streams.worker.steps.outputs import (alerts_for, attribution_record, call_vector_record, health_record,
                                          pseudo_label_record, scorecard_record)

log = logging.getLogger(__name__)
HealthReport = Callable[[str, str], Awaitable[None]]
EncoderFactory = Callable[[Settings, HealthReport], Encoder]
SNIPPET_TURNS, SNIPPET_CHARS, SNIPPET_MIN_TURN_CHARS = 4, 200, 8  # call_vector.snippet: at most 400 characters


def triton_encoder(settings: Settings, on_health: HealthReport) -> Encoder:
    return TritonEncoder(settings.triton_url, settings.triton_model, settings.triton_timeout_s, settings.triton_max_batch,
                         settings.triton_parallel_requests, ssl=settings.triton_ssl,
                         root_certificates=settings.triton_root_certificates, on_health=on_health)


@dataclass
class Embedded:
    """Requests with their vectors and their candidates' label vectors, under one model version."""

    requests: list[Request]
    embeddings: Embeddings
    label_vectors: dict
    started_ms: int
    inference_ms: float


@dataclass
class Inferred:
    """What one micro-batch publishes: its embedded requests and the events that are dead letters (event, reason,
    detail)."""

    embedded: list[Embedded] = field(default_factory=list)
    dead: list[tuple[object, str, str]] = field(default_factory=list)


class LabelMatrices:
    """The candidates' vectors stacked into one matrix, kept for the last few candidate lists: with a large catalog most
    calls of a task share theirs (every label is a candidate when no keyword matches), and stacking thousands of
    vectors per call would cost more than the matching."""

    def __init__(self, size: int = 32) -> None:
        self.size, self.model_version = size, None
        self.matrices: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def get(self, keys: tuple, vectors: dict, model_version: str) -> np.ndarray:
        if model_version != self.model_version:
            self.matrices.clear()
            self.model_version = model_version
        matrix = self.matrices.get(keys)
        if matrix is None:
            matrix = self.matrices[keys] = np.stack([vectors[k] for k in keys])
            while len(self.matrices) > self.size:
                self.matrices.popitem(last=False)
        else:
            self.matrices.move_to_end(keys)
        return matrix


class Attributor:
    """One worker's attribution: the encoder, the label-vector cache, and what it publishes. `infer` may run for
    several batches at once; `publish` runs for one batch at a time, in input order."""

    def __init__(self, worker: Worker, encoder: Encoder) -> None:
        self.worker, self.settings, self.template, self.encoder = worker, worker.settings, worker.template, encoder
        self.cache = LabelVectors()
        self.stacked = LabelMatrices()

    async def infer(self, events: list) -> Inferred:
        catalog = [v for v in self.worker.tables.labels.values() if v]
        requests, rejected = plan(events, catalog, self.worker.tables.accounts.get, self.template)
        inferred = Inferred(dead=list(rejected))
        if not requests:
            return inferred
        delay = 1.0
        while True:
            try:
                inferred.embedded.append(await self.embed(requests))
                return inferred
            except TemplateMismatch as exc:  # a rollout in progress: wait for the served model to match
                log.error("refusing to attribute: %s; retrying in %.0fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            except InferenceRejected:
                break
        # Triton rejected the batch: find the calls it rejects one by one.
        by_call: dict[int, list[Request]] = {}
        for r in requests:
            by_call.setdefault(id(r.event), []).append(r)
        for call_requests in by_call.values():
            try:
                inferred.embedded.append(await self.embed(call_requests))
            except InferenceRejected as exc:
                inferred.dead.append((call_requests[0].event, "inference_rejected", str(exc)))
        return inferred

    async def embed(self, requests: list[Request]) -> Embedded:
        started = now_ms()
        while True:
            t0 = time.perf_counter()
            calls = await self.encoder.embed([r.text for r in requests])
            inference_ms = (time.perf_counter() - t0) * 1000
            if calls.template_version != self.template.version:
                raise TemplateMismatch(f"model renders {calls.template_version}, worker renders {self.template.version}")
            label_vectors = await self.cache.lookup(self.encoder, [l for r in requests for l in r.candidates],
                                                    calls.model_version)
            if label_vectors is not None:
                return Embedded(requests, calls, label_vectors, started, inference_ms)

    async def publish(self, inferred: Inferred) -> None:
        for event, reason, detail in inferred.dead:
            await self.worker.dead_letters.send(event.message, reason, detail)
        for embedded in inferred.embedded:
            await self.publish_embedded(embedded)

    async def publish_embedded(self, embedded: Embedded) -> None:
        channels, settings, calls = self.worker.channels, self.settings, embedded.embeddings
        finals_summarised: set[str] = set()
        finals: dict[str, list] = {}  # call id -> its final attributions (a call's tasks are embedded together)
        snippets: dict[str, str] = {}  # call id -> the start of its redacted transcript
        for request, vector in zip(embedded.requests, calls.vectors):
            ready = request.ready
            keys = tuple((l["label_id"], render_label(l)) for l in request.candidates)
            match = match_labels(vector, self.stacked.get(keys, embedded.label_vectors, calls.model_version),
                                 [k[0] for k in keys], settings.top_k)
            attribution = attribution_record(request, match, calls.model_version, calls.template_version,
                                             embedded.started_ms - ready.ready_ts, embedded.inference_ms)
            key, value = ready.call_id.encode(), encode(attribution)
            await channels.attribution.send(key=key, value=value)
            if ready.final:  # the counts' input, keyed by label and stamped with the attribution's own time
                await channels.attribution_by_label.send(key=attribution.label_id.encode(), value=value,
                                                         timestamp=attribution.produced_at / 1000)
                finals.setdefault(ready.call_id, []).append((request, attribution))
            if not request.has_words:  # nothing was said: no alert, nothing to learn from (alerts_withheld says why)
                continue
            if ready.final:
                if ready.call_id not in snippets:
                    snippets[ready.call_id] = self.snippet(ready)
                await channels.call_vector.send(key=attribution.idempotency_key.encode(), value=encode(
                    call_vector_record(attribution, vector, snippets[ready.call_id], ready.started_at)))
            if ready.final or settings.alert_on_provisional:
                for alert in alerts_for(attribution, request, settings):
                    await channels.alert.send(key=key, value=encode(alert))
            if ready.final and not ready.has_human_label and ready.call_id not in finals_summarised:
                finals_summarised.add(ready.call_id)
                await channels.pseudo_label.send(key=key, value=encode(await self.pseudo_label(request)))
        for call_id, attributed in finals.items():
            await channels.scorecard.send(key=call_id.encode(), value=encode(self.scorecard(attributed, calls.model_version)))

    def scorecard(self, attributed: list, model_version: str):
        """The QA rules judged on the finished call, with its final attributions (rules may depend on them)."""
        ready = attributed[0][0].ready
        finals = [a for _, a in attributed]
        results, talk = self.worker.rules.current().judge(ready.turns, {a.task: a.label_id for a in finals})
        return scorecard_record(ready, results, talk, finals, model_version)

    def snippet(self, ready) -> str:
        """What a search result shows of the call: what the customer said (greetings and one-word turns left out),
        redacted like the pseudo-labels."""
        said = [t for t in ready.turns if t["speaker"] == "customer" and len(t["text"]) >= SNIPPET_MIN_TURN_CHARS]
        return redact(render_dialogue((said or ready.turns)[:SNIPPET_TURNS], self.template))[:SNIPPET_CHARS]

    async def pseudo_label(self, request: Request):
        ready = request.ready
        # Personal data never reaches the pseudo-label topic nor, through it, the training data.
        context = redact(render_context(ready.turns, self.worker.tables.accounts.get(ready.user_id), self.template))
        # LCS is CPU work: keep it off the event loop.
        sentences = await asyncio.get_running_loop().run_in_executor(None, summarise, context,
                                                                     self.settings.summary_sentences)
        return pseudo_label_record(ready, context, sentences, self.template.version)


def register(worker: Worker, make_encoder: EncoderFactory = triton_encoder) -> None:
    settings = worker.settings

    async def report_health(status: str, detail: str) -> None:
        """The worker's own health on the health topic (a dashboard reads it); the attribution waits meanwhile."""
        worker.progress.triton_degraded = status == "degraded"
        record = health_record(settings.worker_name, "triton", status, detail)
        try:  # bounded: a missing health topic would otherwise hold the attribution while the producer waits for it
            await asyncio.wait_for(worker.channels.health.send(key=settings.worker_name.encode(), value=encode(record)),
                                   timeout=5.0)
        except Exception:  # a health event must never stop the attribution
            log.exception("could not send the health event %s (is %s created?)", status, settings.topic("health"))

    @worker.app.agent(worker.channels.call_ready, name="callqa.attribute")
    async def attribute(stream):
        attributor = Attributor(worker, make_encoder(settings, report_health))
        events_in = stream.noack()

        async def finish(events: list, inferred: Inferred | Exception) -> None:
            try:
                if isinstance(inferred, Exception):
                    raise inferred
                await attributor.publish(inferred)
            except Exception as exc:  # an exception escaping would lose the batch: account for it instead
                log.error("attribution failed for a batch of %d", len(events), exc_info=exc)
                for event in events:
                    await worker.dead_letters.send(event.message, "internal_error", repr(exc))
            for event in events:  # only now may their offsets be committed
                await events_in.ack(event)

        try:
            await in_input_order(micro_batches(events_in, settings.batch_size, settings.batch_window_s),
                                 attributor.infer, finish, settings.batches_in_flight)
        finally:
            await attributor.encoder.close()
