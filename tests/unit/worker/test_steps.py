"""The attribution's steps without Kafka or Triton: batching, candidates and rendered requests, the records it
publishes, the label-vector cache and the error policy for Triton's answers."""
import asyncio
from types import SimpleNamespace

import numpy as np
import orjson
import pytest

pytest.importorskip("faust")
from tritonclient.utils import InferenceServerException  # noqa: E402

from streams.core.codec import validator  # noqa: E402
from streams.core.errors import InferenceRejected, TritonUnavailable  # noqa: E402
from streams.core.records import TASKS  # noqa: E402
from streams.core.render import DEFAULT_TEMPLATE, render, render_label  # noqa: E402
from streams.core.settings import Settings  # noqa: E402
from streams.worker.steps.batching import in_input_order, micro_batches  # noqa: E402
from streams.worker.steps.candidates import plan  # noqa: E402
from streams.worker.steps.encoder import Embeddings, LabelVectors, classify  # noqa: E402
from streams.worker.steps.match import match_labels  # noqa: E402
from streams.worker.steps.outputs import alerts_for, attribution_record, health_record, pseudo_label_record  # noqa: E402

CATALOG = [
    {"label_id": "product.data_pack", "task": "product", "name": "流量加油包", "description": "流量包", "keywords": ["流量"],
     "active": True, "updated_at": 0},
    {"label_id": "product.broadband", "task": "product", "name": "家庭宽带", "description": "宽带", "keywords": ["宽带"],
     "active": True, "updated_at": 0},
    {"label_id": "complaint.none", "task": "complaint", "name": "无投诉", "description": "没有投诉", "keywords": [],
     "active": True, "updated_at": 0},
    {"label_id": "complaint.fee", "task": "complaint", "name": "扣费争议", "description": "多扣费", "keywords": ["扣"],
     "active": True, "updated_at": 0, "alert": True},
]
ACCOUNT = {"user_id": "u1", "balance_yuan": 20.0, "plan_name": "畅享5G套餐129元", "plan_fee_yuan": 129,
           "data_allowance": "国内通用流量30G", "updated_at": 0}


def ready_event(call_id="c1", final=True, turns=None):
    ready = {"call_id": call_id, "user_id": "u1", "final": final, "segment_count": 1, "missing_seqs": [],
             "turns": turns if turns is not None else [{"speaker": "customer", "text": "我的流量被多扣了"}],
             "has_human_label": False, "trigger_ts": 1, "ready_ts": 2}
    return SimpleNamespace(message=SimpleNamespace(value=orjson.dumps(ready)))


def test_plan_renders_each_task_and_names_what_cannot_be_attributed():
    events = [ready_event(), SimpleNamespace(message=SimpleNamespace(value=b"{not json"))]
    requests, rejected = plan(events, CATALOG, {"u1": ACCOUNT}.get, DEFAULT_TEMPLATE)
    assert [r.task for r in requests] == list(TASKS)
    product = requests[0]
    assert product.text == render(product.ready.turns, ACCOUNT, "product", DEFAULT_TEMPLATE) and product.account_known
    assert [l["label_id"] for l in product.candidates] == ["product.data_pack"] and product.candidate_source == "keywords"
    assert [l["label_id"] for l in requests[1].candidates] == ["complaint.fee", "complaint.none"]
    assert [(reason, event is events[1]) for event, reason, _ in rejected] == [("invalid_json", True)]
    # no active label of a task: the call is a dead letter, not half attributed
    requests, rejected = plan([ready_event()], [l for l in CATALOG if l["task"] == "product"], {}.get, DEFAULT_TEMPLATE)
    assert requests == [] and [r[1] for r in rejected] == ["no_candidates"]


def test_a_call_without_words_is_planned_but_marked():
    requests, _ = plan([ready_event(turns=[{"speaker": "customer", "text": ""}])], CATALOG, {}.get, DEFAULT_TEMPLATE)
    assert requests and not any(r.has_words for r in requests) and not requests[0].account_known


def test_outputs_are_valid_records_and_alerts_follow_the_thresholds():
    settings = Settings(complaint_alert_threshold=0.3, review_margin_threshold=0.02)
    requests, _ = plan([ready_event()], CATALOG, {"u1": ACCOUNT}.get, DEFAULT_TEMPLATE)
    complaint = requests[1]
    match = match_labels(np.array([1.0, 0.0]), np.array([[0.9, 0.436], [0.3, 0.954]]), ["complaint.fee", "complaint.none"], 3)
    attribution = attribution_record(complaint, match, "7", DEFAULT_TEMPLATE.version, queue_ms=-5, inference_ms=12.345)
    validator("attribution")(attribution.to_dict())
    assert (attribution.label_id, attribution.label_name, attribution.timings_ms["queue"]) == ("complaint.fee", "扣费争议", 0)
    assert attribution.idempotency_key == "c1:complaint:final:7" and "alerts_withheld" not in attribution.to_dict()
    alerts = alerts_for(attribution, complaint, settings)
    assert [a.kind for a in alerts] == ["complaint"]
    for alert in alerts:
        validator("alert")(alert.to_dict())
    quiet = [{**l, "alert": False} for l in complaint.candidates]
    assert alerts_for(attribution, SimpleNamespace(candidates=quiet), settings) == []
    tie = match_labels(np.array([1.0, 0.0]), np.array([[0.9, 0.436], [0.89, 0.456]]), ["complaint.fee", "complaint.none"], 3)
    tied = attribution_record(complaint, tie, "7", DEFAULT_TEMPLATE.version, 0, 1.0)
    assert [a.kind for a in alerts_for(tied, complaint, settings)] == ["complaint", "review"]
    pseudo = pseudo_label_record(complaint.ready, "当前对话内容为(…)", ["句一。", "句二。"], DEFAULT_TEMPLATE.version)
    validator("pseudo_label")(pseudo.to_dict())
    assert pseudo.summary == "句一。句二。"
    validator("health")(health_record("w1", "triton", "degraded", "away").to_dict())


@pytest.mark.parametrize("status, message, error", [
    ("StatusCode.INVALID_ARGUMENT", "TEXT is not UTF-8", InferenceRejected),
    ("StatusCode.UNAVAILABLE", "failed to connect", TritonUnavailable),
    ("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded", TritonUnavailable),
    ("StatusCode.INTERNAL", "invalid start byte", TritonUnavailable),  # the code decides, never the message text
])
def test_triton_errors_map_by_status_code(status, message, error):
    assert type(classify(InferenceServerException(message, status=status))) is error


class CountingEncoder:
    def __init__(self, version="1"):
        self.version, self.texts = version, []

    async def embed(self, texts):
        self.texts += texts
        return Embeddings(np.ones((len(texts), 2), dtype=np.float32), self.version, DEFAULT_TEMPLATE.version)


@pytest.mark.asyncio
async def test_label_vectors_are_embedded_once_per_model_version():
    cache, encoder = LabelVectors(), CountingEncoder()
    assert len(await cache.lookup(encoder, CATALOG[:2], "1")) == 2
    assert len(await cache.lookup(encoder, CATALOG[:2], "1")) == 2 and len(encoder.texts) == 2  # cached
    assert await cache.lookup(encoder, CATALOG[:2], "2") is None  # Triton moved on while we asked: ask again
    encoder.version = "2"
    assert len(await cache.lookup(encoder, CATALOG[:2], "2")) == 2 and len(encoder.texts) == 6


@pytest.mark.asyncio
async def test_a_batch_in_flight_under_an_old_version_does_not_fill_the_new_versions_cache():
    class SlowEncoder:
        def __init__(self):
            self.release = asyncio.Event()

        async def embed(self, texts):
            await self.release.wait()
            return Embeddings(np.ones((len(texts), 2), dtype=np.float32), "1", DEFAULT_TEMPLATE.version)

    cache, slow = LabelVectors(), SlowEncoder()
    old = asyncio.ensure_future(cache.lookup(slow, CATALOG[:2], "1"))
    await asyncio.sleep(0)
    newer = CountingEncoder()
    newer.version = "2"
    assert len(await cache.lookup(newer, CATALOG[2:], "2")) == 2  # another batch meets version 2 meanwhile
    slow.release.set()
    assert len(await old) == 2  # the old batch gets its vectors...
    assert set(cache.vectors) == {(l["label_id"], render_label(l)) for l in CATALOG[2:]}  # ...but the cache keeps v2's


class FakeStream:
    """A faust stream's `events()` from a queue: what micro_batches reads."""

    def __init__(self):
        self.queue = asyncio.Queue()

    async def events(self):
        while True:
            item = await self.queue.get()
            if isinstance(item, BaseException):
                raise item
            yield item


@pytest.mark.asyncio
async def test_micro_batches_fill_up_to_size_or_window_and_a_dead_reader_stops_them():
    stream = FakeStream()
    for i in range(5):
        stream.queue.put_nowait(i)
    batches = micro_batches(stream, size=3, window_s=0.05)
    assert await batches.__anext__() == [0, 1, 2]
    assert await batches.__anext__() == [3, 4]  # the window closed before the batch was full
    stream.queue.put_nowait(RuntimeError("broker gone"))
    with pytest.raises(RuntimeError, match="reader stopped"):
        await asyncio.wait_for(batches.__anext__(), 5)
    await batches.aclose()


async def batches_of(*batches):
    for batch in batches:
        yield batch


@pytest.mark.asyncio
async def test_batches_infer_together_but_finish_in_input_order():
    """The first batch's inference ends last: the second must not finish (ack) before it, and at most `depth`
    batches infer at once."""
    delays = {"a": 0.2, "b": 0.0, "c": 0.0}
    inferring, most, finished = set(), 0, []

    async def infer(batch):
        nonlocal most
        inferring.add(batch)
        most = max(most, len(inferring))
        await asyncio.sleep(delays[batch])
        inferring.discard(batch)
        if batch == "c":
            raise ValueError("Triton said no")
        return batch.upper()

    async def finish(batch, outcome):
        finished.append((batch, outcome if isinstance(outcome, str) else type(outcome).__name__))

    await asyncio.wait_for(in_input_order(batches_of("a", "b", "c"), infer, finish, depth=2), 5)
    assert finished == [("a", "A"), ("b", "B"), ("c", "ValueError")]
    assert most == 2
    finished.clear()
    most = 0
    await asyncio.wait_for(in_input_order(batches_of("a", "b"), infer, finish, depth=1), 5)
    assert finished == [("a", "A"), ("b", "B")] and most == 1  # depth 1: one batch at a time


@pytest.mark.asyncio
async def test_a_batch_that_cannot_finish_stops_the_acks_after_it():
    finished = []

    async def infer(batch):
        return batch

    async def finish(batch, outcome):
        if batch == "a":
            raise RuntimeError("broker gone")
        finished.append(batch)

    with pytest.raises(RuntimeError):
        await asyncio.wait_for(in_input_order(batches_of("a", "b", "c"), infer, finish, depth=2), 5)
    assert finished == []  # nothing after the failed batch was acked


def test_stacked_label_matrices_are_kept_per_candidate_list_and_model_version():
    from streams.worker.agents.attribute import LabelMatrices

    vectors = {("a", "A"): np.ones(4, np.float32), ("b", "B"): np.zeros(4, np.float32)}
    stacked = LabelMatrices(size=1)
    first = stacked.get((("a", "A"), ("b", "B")), vectors, "1")
    assert first.shape == (2, 4) and stacked.get((("a", "A"), ("b", "B")), vectors, "1") is first
    assert stacked.get((("b", "B"),), vectors, "1").shape == (1, 4)  # the oldest list goes at the bound
    assert stacked.get((("a", "A"), ("b", "B")), vectors, "1") is not first
    vectors[("a", "A")] = np.full(4, 2, np.float32)  # a new model version: new vectors
    assert stacked.get((("a", "A"),), vectors, "2")[0, 0] == 2


@pytest.mark.asyncio
async def test_a_large_catalog_is_embedded_a_slice_at_a_time():
    sizes = []

    class Recording:
        async def embed(self, texts):
            sizes.append(len(texts))
            return Embeddings(np.ones((len(texts), 4), np.float32), "1", DEFAULT_TEMPLATE.version)

    labels = [{**CATALOG[0], "label_id": f"product.x{i}", "name": f"标签{i}"} for i in range(300)]
    assert len(await LabelVectors(slice_size=128).lookup(Recording(), labels, "1")) == 300
    assert sizes == [128, 128, 44]


@pytest.mark.asyncio
async def test_a_request_that_timed_out_is_sent_again_with_more_time():
    """Triton goes on with a request the client gave up on: the same deadline again would never be met on a CPU
    that is slower than it just now."""
    import numpy as np

    from streams.worker.steps.encoder import TritonEncoder

    class Result:
        def as_numpy(self, name):
            return np.array([[1.0, 0.0]], dtype=np.float32) if name == "EMBEDDING" else np.array([[b"3"]], dtype=object)

    class SlowTriton:
        def __init__(self):
            self.timeouts = []

        async def infer(self, model, inputs, outputs, client_timeout):
            self.timeouts.append(client_timeout)
            if len(self.timeouts) <= 4:
                raise InferenceServerException("Deadline Exceeded", status="StatusCode.DEADLINE_EXCEEDED")
            return Result()

        async def close(self):
            pass

    encoder = TritonEncoder("127.0.0.1:1", "m", timeout_s=10.0, backoff_s=0.0, max_backoff_s=0.0)
    encoder.client = SlowTriton()
    embedded = await encoder.embed(["一句话"])
    assert embedded.model_version == "3" and encoder.client.timeouts == [10.0, 20.0, 40.0, 80.0, 80.0]
