"""Each module saves and loads itself; the container round-trips to identical vectors."""
import torch

from streams.render import DEFAULT_TEMPLATE
from training.config import override
from training.data import build_vocab
from training.model import build, load
from training.stages.finetune import FinetuneConfig
from training.stages.setup import SetupConfig, new_base


def test_model_round_trip(tmp_path):
    config = override(SetupConfig(), ["--d-model=32", "--d-ff=64", "--num-heads=2", "--num-layers=1",
                                         "--num-decoder-layers=1", "--generate-tokens=2", "--max-length=64", "--vocab=build"])
    base = new_base(config, ["用户：我的流量不够用。客服：好的。", "当前对话属于什么产品？"], tmp_path / "work")
    model = build(base, DEFAULT_TEMPLATE, (48, 16)).eval()
    texts = ["我的流量不够用", "好的"]
    with torch.no_grad():
        before = model.encode(texts)
    model.save(tmp_path / "m")
    loaded = load(tmp_path / "m")
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(texts), before, atol=1e-6, rtol=0)
    assert loaded.info["template_version"] == DEFAULT_TEMPLATE.version
    assert torch.allclose(before.norm(dim=-1), torch.ones(2))


def test_override_rejects_unknown_keys_and_bad_types():
    import pytest

    with pytest.raises(ValueError, match="unknown key"):
        override(FinetuneConfig(), ["--nope=1"])
    with pytest.raises(ValueError, match="takes a int"):
        override(FinetuneConfig(), ["--steps=many"])
    assert override(SetupConfig(), ["--projection-dims=8,4"]).projection_dims == (8, 4)


def test_build_vocab_has_bert_specials(tmp_path):
    tokens = build_vocab(["流量5G"], tmp_path / "v.txt").read_text(encoding="utf-8").split("\n")
    assert tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and "##5" in tokens and "流" in tokens
