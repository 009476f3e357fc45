"""Triton's model control is the retrain's alone: without the repository's token no local process may load, unload
or list models, over HTTP or gRPC; inference and metadata stay open to the worker. A clean stop exits 0."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from streams.core import model_control

pytestmark = pytest.mark.integration


def post(url: str, headers: dict | None = None) -> int:
    request = urllib.request.Request(url, data=b"{}", method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_model_control_needs_the_token_and_a_clean_stop_exits_0(triton_server):
    repo, http = triton_server.model_repo, triton_server.http_url
    assert post(f"{http}/v2/repository/models/callqa_embed/unload") == 403
    assert post(f"{http}/v2/repository/models/callqa_embed/load") == 403
    assert post(f"{http}/v2/repository/index") == 403
    assert post(f"{http}/v2/repository/index", model_control.headers(repo, grpc=False)) == 200
    client = grpcclient.InferenceServerClient(triton_server.grpc_url)
    with pytest.raises(InferenceServerException, match="restricted"):
        client.unload_model("callqa_embed")
    index = client.get_model_repository_index(headers=model_control.headers(repo)).models  # one entry per version
    assert {m.name for m in index} == {"callqa_embed", "callqa_encoder_decoder", "callqa_projector"}
    assert client.is_model_ready("callqa_embed") and client.get_model_metadata("callqa_embed").name == "callqa_embed"
    client.close()

    try:
        triton_server.stop()
        assert triton_server.process.proc.returncode == 0, "Triton's clean stop printed exit 1 (its exit timeout expired)"
    finally:
        triton_server.start()  # the session's server, for the tests after this one
