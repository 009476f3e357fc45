"""Vectors from Triton equal those of the same model run locally (within 1e-5), alone and in a batch."""
import numpy as np
import pytest
import torch
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from streams.core.errors import InferenceRejected
from streams.core.render import render
from streams.worker.steps.encoder import classify
from training.model import load

pytestmark = pytest.mark.integration
TEXTS = [render([{"speaker": "customer", "text": "我的流量这个月怎么多扣了三十元"}], None, "complaint"),
         render([{"speaker": "customer", "text": "宽带坏了三天了"}, {"speaker": "agent", "text": "马上帮您催单"}],
                {"balance_yuan": 20, "plan_name": "校园学霸套餐", "plan_fee_yuan": 29, "data_allowance": "国内通用流量30G"}, "product"),
         "5G套餐升级/变更：用户咨询或办理5G套餐的升级"]


def triton_embed(url: str, texts: list[str]) -> np.ndarray:
    client = grpcclient.InferenceServerClient(url)
    data = np.array([[t.encode()] for t in texts], dtype=np.object_)
    inp = grpcclient.InferInput("TEXT", list(data.shape), "BYTES")
    inp.set_data_from_numpy(data)
    return client.infer("callqa_embed", [inp]).as_numpy("EMBEDDING")


def test_triton_matches_local_model(triton_url, tiny_model):
    with torch.no_grad():
        local = load(tiny_model).encode(TEXTS).numpy()
    np.testing.assert_allclose(triton_embed(triton_url, TEXTS), local, atol=1e-5)
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(triton_embed(triton_url, [text])[0], local[i], atol=1e-5)


def test_a_request_triton_cannot_serve_is_rejected_not_retried(triton_url):
    """The error policy on Triton's real answer: TEXT that is not UTF-8 is INVALID_ARGUMENT (the backend says so by
    code), which the worker dead-letters; it is not mistaken for Triton being away."""
    client = grpcclient.InferenceServerClient(triton_url)
    data = np.array([[b"\xff\xfe broken"]], dtype=np.object_)
    inp = grpcclient.InferInput("TEXT", list(data.shape), "BYTES")
    inp.set_data_from_numpy(data)
    with pytest.raises(InferenceServerException) as exc:
        client.infer("callqa_embed", [inp])
    assert isinstance(classify(exc.value), InferenceRejected), exc.value.status()
