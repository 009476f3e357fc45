"""Each module saves and loads itself; the container round-trips to identical vectors."""
import torch

from streams.core.render import DEFAULT_TEMPLATE
from training.config import override
from training.data import build_vocab
from training.model import build, load
from training.stages.finetune import FinetuneConfig
import pytest

from training.modules import Seq2SeqBase
from training.stages.setup import SetupConfig, tiny_encoder

TEXTS = ["用户：我的流量不够用。客服：好的。", "当前对话属于什么产品？"]


def tiny_base(tmp_path, generate_tokens=2, warm=True, pool_from="decoder") -> Seq2SeqBase:
    config = override(SetupConfig(), ["--base=tiny", "--hidden-size=32", "--intermediate-size=64", "--num-heads=2",
                                         "--num-layers=2", "--max-length=64"])
    encoder, tokenizer = tiny_encoder(config, TEXTS, tmp_path / "work")
    return Seq2SeqBase.from_encoder(encoder, tokenizer, decoder_layers=1, warm_decoder=warm,
                                    generate_tokens=generate_tokens, max_length=64, pool_from=pool_from)


@pytest.mark.parametrize("generate_tokens,pool_from", [(2, "decoder"), (1, "decoder"), (1, "encoder")])
def test_model_round_trip(tmp_path, generate_tokens, pool_from):
    base = tiny_base(tmp_path, generate_tokens, pool_from=pool_from)
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


def test_warm_decoder_copies_the_encoder_and_starts_cross_attention_as_self_attention(tmp_path):
    base = tiny_base(tmp_path, warm=True)
    encoder, decoder = base.model.get_encoder(), base.model.get_decoder()
    last, first = encoder.encoder.layer[-1], decoder.bert.encoder.layer[0]
    torch.testing.assert_close(first.attention.self.query.weight, last.attention.self.query.weight)
    torch.testing.assert_close(first.crossattention.self.key.weight, last.attention.self.key.weight)
    torch.testing.assert_close(decoder.bert.embeddings.word_embeddings.weight, encoder.embeddings.word_embeddings.weight)
    assert decoder.cls.predictions.decoder.weight is decoder.bert.embeddings.word_embeddings.weight  # tied output
    fresh = tiny_base(tmp_path, warm=False).model.get_decoder().bert.encoder.layer[0]
    assert not torch.equal(fresh.crossattention.self.key.weight, last.attention.self.key.weight)


def test_one_generated_token_is_the_start_state(tmp_path):
    """generate_tokens=1 skips generation: the vector is the decoder's state at the start position, the same one
    that a generation of two tokens pools first."""
    base = tiny_base(tmp_path, generate_tokens=1).eval()
    with torch.no_grad():
        one = base(base.tokenize(TEXTS))
    assert one["token_embeddings"].shape[1] == 1 and one["token_mask"].all()
    base.generate_tokens = 2
    with torch.no_grad():
        two = base(base.tokenize(TEXTS))
    torch.testing.assert_close(two["token_embeddings"][:, 0], one["token_embeddings"][:, 0], atol=1e-5, rtol=0)


def test_a_random_bases_start_state_depends_on_the_call_once_cross_attention_is_amplified(tmp_path):
    """At BERT's init the start token's state is nearly the same for every call (the quick model collapsed); the
    set-up's cross-attention gain makes the calls differ from step 0."""
    from training.stages.setup import amplify_cross_attention

    texts = ["用户：我的流量不够用。", "客服：好的，我帮您查一下套餐。", "当前对话属于什么产品？"]

    def spread(base) -> float:
        with torch.no_grad():
            states = torch.nn.functional.normalize(base({**base.tokenize(texts)})["token_embeddings"][:, 0], dim=-1)
        return float(1 - (states @ states.T).min())

    torch.manual_seed(0)
    base = tiny_base(tmp_path, generate_tokens=1).eval()
    before = spread(base)
    amplify_cross_attention(base, 10.0)
    assert spread(base) > 100 * before  # measured: 6e-6 -> 4e-2
