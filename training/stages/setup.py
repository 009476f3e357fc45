"""Stage 1, model set-up: an encoder-decoder base plus the projection module (several FC layers). The base is any
local Hugging Face seq2seq checkpoint (`--base=DIR`), or a small T5 built from a config over the bert-base-chinese
vocabulary."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from streams.render import DEFAULT_TEMPLATE, render_label
from training.data import SHARED_DATA, build_vocab, read_jsonl, sample_utterances
from training.model import CallqaModel, build
from training.modules import Seq2SeqBase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SetupConfig:
    out_dir: str = ".callqa/models/setup"
    base: str = ""  # a local HF seq2seq checkpoint folder; empty builds a T5-style model from this config
    vocab: str = ""  # vocab.txt for a new base; empty: ../shared/data/vocab.txt; "build": the characters of vocab_texts
    vocab_texts: str = ""  # a sample folder whose transcript and catalog give the characters of a built vocabulary
    # Sized so the whole four-stage build fits 45 minutes on 2 CPU cores.
    d_model: int = 128
    d_ff: int = 512
    num_heads: int = 4
    num_layers: int = 2
    num_decoder_layers: int = 1
    dropout: float = 0.0  # dropout costs a fifth of a CPU step; the runs are too short to overfit much
    generate_tokens: int = 2
    max_length: int = 448  # covers the rendered text at the template's 300-character dialogue budget
    projection_dims: tuple = (256, 128)
    seed: int = 13


def new_base(config: SetupConfig, texts: list[str], work_dir: Path) -> Seq2SeqBase:
    from transformers import BertTokenizerFast, T5Config, T5ForConditionalGeneration

    if config.vocab == "build" or (not config.vocab and not (SHARED_DATA / "vocab.txt").exists()):
        vocab = build_vocab(texts, work_dir / "vocab.txt")
    else:
        vocab = Path(config.vocab) if config.vocab else SHARED_DATA / "vocab.txt"
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    t5 = T5Config(
        vocab_size=tokenizer.vocab_size, d_model=config.d_model, d_kv=config.d_model // config.num_heads, d_ff=config.d_ff,
        num_layers=config.num_layers, num_decoder_layers=config.num_decoder_layers, num_heads=config.num_heads,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id,
        decoder_start_token_id=tokenizer.pad_token_id, dropout_rate=config.dropout, tie_word_embeddings=True,
    )
    return Seq2SeqBase(config.generate_tokens, config.max_length, T5ForConditionalGeneration(t5), tokenizer)


def vocab_texts(sample_dir: Path) -> list[str]:
    return sample_utterances(sample_dir) + [render_label(l) for l in read_jsonl(sample_dir / "catalog.jsonl")]


def setup(config: SetupConfig) -> CallqaModel:
    import torch

    torch.manual_seed(config.seed)
    out_dir = Path(config.out_dir)
    if config.base:
        base = Seq2SeqBase.from_pretrained(config.base, generate_tokens=config.generate_tokens, max_length=config.max_length)
    else:
        texts = vocab_texts(Path(config.vocab_texts)) if config.vocab_texts else []
        base = new_base(config, texts + [DEFAULT_TEMPLATE.context, *DEFAULT_TEMPLATE.prompts.values()],
                        out_dir.with_name(out_dir.name + ".work"))
    model = build(base, DEFAULT_TEMPLATE, tuple(config.projection_dims))
    model.info["pretrained"] = bool(config.base)  # stage 2 is skipped for a pretrained checkpoint
    model.info["stages"] = ["setup"]
    model.save(out_dir)
    log.info("set up %s: %d parameters -> %s", "checkpoint " + config.base if config.base else "a new T5",
             sum(p.numel() for p in model.parameters()), out_dir)
    return model
