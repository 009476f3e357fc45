"""Micro-batched attribution: render, embed through Triton, match against candidate labels, publish."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import numpy as np

from streams.agents import watchdog
from streams.app import app, settings
from streams.channels import alert_topic, attribution_topic, call_ready_topic, health_topic, pseudo_label_topic
from streams.codec import CallqaError, DecodeError, decode, encode, now_ms
from streams.deadletter import send_dead_letter
from streams.encoder import Encoder, InferenceRejected, InProcessEncoder, TritonEncoder
from streams.match import match_labels, select_candidates
from streams.redact import redact
from streams.render import has_words, render, render_context, render_label
from streams.summarise import summarise
from streams.tables import accounts, labels

log = logging.getLogger(__name__)
TASKS = ("product", "complaint")
TEMPLATE = settings.template()


class TemplateMismatch(CallqaError):
    """The served model was trained on another template version than this worker renders."""


class LabelVectors:
    """Label vectors per (label id, label text), valid for one model version."""

    def __init__(self) -> None:
        self.model_version: str | None = None
        self.vectors: dict[tuple[str, str], np.ndarray] = {}

    async def lookup(self, encoder: Encoder, candidates: list[dict], model_version: str) -> dict | None:
        """Vectors of `candidates` under `model_version`; None when Triton has moved to another version meanwhile."""
        if model_version != self.model_version:
            self.vectors.clear()
            self.model_version = model_version
        keys = {(l["label_id"], render_label(l)) for l in candidates}
        missing = sorted(k for k in keys if k not in self.vectors)
        if missing:
            embedded = await encoder.embed([text for _, text in missing])
            if embedded.model_version != model_version:
                return None
            self.vectors.update(zip(missing, embedded.vectors))
        return {k: self.vectors[k] for k in keys}


@dataclass
class Request:
    event: object
    ready: dict
    task: str
    text: str
    candidates: list[dict]
    candidate_source: str
    account_known: bool
    has_words: bool = True  # False: no turn has a letter or digit; attributed (accounted), but no alert, no pseudo-label


def plan(events: list, catalog: list[dict]) -> tuple[list[Request], list[tuple[object, str, str]]]:
    """Rendered texts and candidates per call and task; records that cannot be attributed, with the reason."""
    requests, rejected = [], []
    for event in events:
        try:
            ready = decode(event.message.value, "call_ready")
        except DecodeError as exc:
            rejected.append((event, exc.reason, exc.detail))
            continue
        account = accounts.get(ready["user_id"])
        call_text = "".join(t["text"] for t in ready["turns"])
        words = has_words(call_text)
        planned = []
        for task in TASKS:
            candidates, source = select_candidates(catalog, task, call_text)
            if not candidates:
                rejected.append((event, "no_candidates", f"no active {task} labels in the catalog"))
                planned = []
                break
            planned.append(Request(event, ready, task, render(ready["turns"], account, task, TEMPLATE), candidates, source,
                                   account is not None, words))
        requests.extend(planned)
    return requests, rejected


async def attribute_batch(encoder: Encoder, cache: LabelVectors, requests: list[Request]) -> None:
    started = now_ms()
    while True:
        t0 = time.perf_counter()
        calls = await encoder.embed([r.text for r in requests])
        inference_ms = (time.perf_counter() - t0) * 1000
        if calls.template_version != TEMPLATE.version:
            raise TemplateMismatch(f"model renders {calls.template_version}, worker renders {TEMPLATE.version}")
        label_vectors = await cache.lookup(encoder, [l for r in requests for l in r.candidates], calls.model_version)
        if label_vectors is not None:
            break
    finals_summarised: set[str] = set()
    for request, vector in zip(requests, calls.vectors):
        ready, task = request.ready, request.task
        keys = [(l["label_id"], render_label(l)) for l in request.candidates]
        names = {l["label_id"]: l["name"] for l in request.candidates}
        match = match_labels(vector, np.stack([label_vectors[k] for k in keys]), [k[0] for k in keys], settings.top_k)
        stage = "final" if ready["final"] else f"provisional@{ready['segment_count']}"
        produced_at = now_ms()
        attribution = {
            "idempotency_key": f"{ready['call_id']}:{task}:{stage}:{calls.model_version}",
            "call_id": ready["call_id"], "user_id": ready["user_id"], "task": task, "final": ready["final"],
            "label_id": match.label_id, "label_name": names[match.label_id],
            "score": round(match.score, 6), "margin": round(match.margin, 6),
            "top_k": [{"label_id": i, "name": names[i], "score": round(s, 6)} for i, s in match.top_k],
            "candidates": len(request.candidates), "candidate_source": request.candidate_source,
            "account_known": request.account_known, "segment_count": ready["segment_count"],
            **({} if request.has_words else {"alerts_withheld": "no_words"}),
            "model_version": calls.model_version, "template_version": calls.template_version,
            "timings_ms": {"queue": max(0, started - ready["ready_ts"]), "inference": round(inference_ms, 2),
                           "end_to_end": max(0, produced_at - ready["trigger_ts"])},
            "produced_at": produced_at,
        }
        key = ready["call_id"].encode()
        await attribution_topic.send(key=key, value=encode(attribution))
        if not request.has_words:  # nothing was said: no alert, nothing to learn from (alerts_withheld says why)
            continue
        if ready["final"] or settings.alert_on_provisional:
            for alert in alerts_for(attribution, request):
                await alert_topic.send(key=key, value=encode(alert))
        if ready["final"] and not ready["has_human_label"] and ready["call_id"] not in finals_summarised:
            finals_summarised.add(ready["call_id"])
            await pseudo_label_topic.send(key=key, value=encode(await pseudo_label(ready, calls.model_version)))


def alerts_for(attribution: dict, request: Request) -> list[dict]:
    """A complaint above the threshold alerts QA; a near-tie between the top two asks for a human review."""
    label = next(l for l in request.candidates if l["label_id"] == attribution["label_id"])
    found = []
    if (attribution["task"] == "complaint" and label.get("alert", True)
            and attribution["score"] >= settings.complaint_alert_threshold):
        found.append(("complaint", f"投诉归因「{label['name']}」得分 {attribution['score']:.3f} ≥ {settings.complaint_alert_threshold}"))
    if attribution["candidates"] > 1 and attribution["margin"] < settings.review_margin_threshold:
        found.append(("review", f"低置信度：与第二候选相差 {attribution['margin']:.3f} < {settings.review_margin_threshold}"))
    return [
        {
            "idempotency_key": f"{attribution['call_id']}:{attribution['task']}:{kind}:{attribution['model_version']}",
            "alert_id": f"{attribution['call_id']}:{attribution['task']}:{kind}",
            "kind": kind, "call_id": attribution["call_id"], "user_id": attribution["user_id"], "task": attribution["task"],
            "label_id": attribution["label_id"], "label_name": attribution["label_name"],
            "score": attribution["score"], "margin": attribution["margin"], "reason": reason,
            "model_version": attribution["model_version"], "produced_at": now_ms(),
        }
        for kind, reason in found
    ]


async def pseudo_label(ready: dict, model_version: str) -> dict:
    # Personal data never reaches the pseudo-label topic nor, through it, the training data.
    context = redact(render_context(ready["turns"], accounts.get(ready["user_id"]), TEMPLATE))
    # LCS is CPU work: keep it off the event loop.
    sentences = await asyncio.get_running_loop().run_in_executor(None, summarise, context, settings.summary_sentences)
    return {
        "idempotency_key": f"{ready['call_id']}:pseudo_label:{TEMPLATE.version}",
        "call_id": ready["call_id"], "user_id": ready["user_id"], "context_text": context,
        "summary_sentences": sentences, "summary": "".join(sentences),
        "template_version": TEMPLATE.version, "produced_at": now_ms(),
    }


async def attribute_or_dead_letter(encoder: Encoder, cache: LabelVectors, events: list) -> None:
    catalog = [v for v in labels.values() if v]
    requests, rejected = plan(events, catalog)
    for event, reason, detail in rejected:
        await send_dead_letter(event.message, reason, detail)
    if not requests:
        return
    delay = 1.0
    while True:
        try:
            await attribute_batch(encoder, cache, requests)
            return
        except TemplateMismatch as exc:
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
            await attribute_batch(encoder, cache, call_requests)
        except InferenceRejected as exc:
            await send_dead_letter(call_requests[0].event.message, "inference_rejected", str(exc))


async def report_health(status: str, detail: str) -> None:
    """The worker's own health on the health topic (a dashboard reads it); the attribution waits meanwhile."""
    watchdog.triton_degraded = status == "degraded"
    since = now_ms()
    record = {"idempotency_key": f"{settings.worker_name}:triton:{status}:{since}", "worker": settings.worker_name,
              "component": "triton", "status": status, "since": since, "detail": detail, "produced_at": since}
    try:  # bounded: a missing health topic would otherwise hold the attribution while the producer waits for it
        await asyncio.wait_for(health_topic.send(key=settings.worker_name.encode(), value=encode(record)), timeout=5.0)
    except Exception:  # a health event must never stop the attribution
        log.exception("could not send the health event %s (is %s created?)", status, settings.topic("health"))


@app.agent(call_ready_topic, name="callqa.attribute")
async def attribute(stream):
    if settings.encoder == "in-process":
        encoder = InProcessEncoder(settings.in_process_model_dir)
    else:
        encoder = TritonEncoder(settings.triton_url, settings.triton_model, settings.triton_timeout_s, settings.triton_max_batch,
                                settings.triton_parallel_requests, ssl=settings.triton_ssl,
                                root_certificates=settings.triton_root_certificates, on_health=report_health)
    cache = LabelVectors()
    events_in = stream.noack()
    try:
        async for events in micro_batches(events_in, settings.batch_size, settings.batch_window_s):
            try:
                await attribute_or_dead_letter(encoder, cache, events)
            except Exception as exc:  # an exception escaping would lose the batch: account for it instead
                log.exception("attribution failed for a batch of %d", len(events))
                for event in events:
                    await send_dead_letter(event.message, "internal_error", repr(exc))
            for event in events:  # only now may their offsets be committed
                await events_in.ack(event)
    finally:
        await encoder.close()


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
