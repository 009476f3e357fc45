"""The model's modules, each saving and loading its own config and weights:
Seq2SeqBase (encoder-decoder, greedy generation) -> Pooling -> Projection (FC layers) -> Normalize."""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
from transformers.modeling_outputs import BaseModelOutput

CONFIG = "config.json"
WEIGHTS = "model.safetensors"


class Module(nn.Module):
    """A module whose constructor arguments are its saved config."""

    config_keys: tuple[str, ...] = ()
    own_weights = True  # False where a library saves the weights in its own format

    def config(self) -> dict:
        return {k: getattr(self, k) for k in self.config_keys}

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / CONFIG).write_text(json.dumps(self.config(), indent=2), encoding="utf-8")
        if self.own_weights and any(True for _ in self.parameters()):
            save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(path / WEIGHTS))

    @classmethod
    def load(cls, path: Path) -> "Module":
        module = cls(**json.loads((path / CONFIG).read_text(encoding="utf-8")))
        if (path / WEIGHTS).exists():
            module.load_state_dict(load_file(str(path / WEIGHTS)))
        return module


class Seq2SeqBase(Module):
    """Any transformers encoder-decoder. The method takes the *decoder's* output: the model generates
    `generate_tokens` tokens greedily and the decoder states that produced them are the generated information (with
    one token, the state at the start position, which produces the first generated token: no generation needed).
    `pool_from="encoder"` takes the encoder's states instead: the plain bi-encoder the method is compared with."""

    config_keys = ("generate_tokens", "max_length", "pool_from")
    own_weights = False

    def __init__(self, generate_tokens: int = 8, max_length: int = 448, pool_from: str = "decoder", model=None,
                 tokenizer=None) -> None:
        super().__init__()
        if pool_from not in ("decoder", "encoder"):
            raise ValueError(f"pool_from is decoder or encoder, not {pool_from!r}")
        self.generate_tokens, self.max_length, self.pool_from = generate_tokens, max_length, pool_from
        self.model, self.tokenizer = model, tokenizer

    @property
    def hidden_size(self) -> int:
        config = self.model.config
        return config.d_model if hasattr(config, "d_model") else config.decoder.hidden_size

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        features = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt",
                                  return_token_type_ids=False)
        return {k: v.to(self.model.device) for k, v in features.items()}

    def forward(self, features: dict) -> dict:
        encoder_states = self.model.get_encoder()(
            input_ids=features["input_ids"], attention_mask=features["attention_mask"]).last_hidden_state
        if self.pool_from == "encoder":
            features["token_embeddings"], features["token_mask"] = encoder_states, features["attention_mask"].bool()
            return features
        config = self.model.config
        if self.generate_tokens == 1:
            decoder_input_ids = torch.full((len(encoder_states), 1), config.decoder_start_token_id, device=encoder_states.device)
        else:
            with torch.no_grad():
                generated = self.model.generate(
                    encoder_outputs=BaseModelOutput(last_hidden_state=encoder_states.detach()),
                    attention_mask=features["attention_mask"], max_new_tokens=self.generate_tokens,
                    min_new_tokens=self.generate_tokens, do_sample=False, num_beams=1)
            decoder_input_ids = generated[:, : self.generate_tokens]  # [start, t1 .. t_{G-1}] produced t1 .. t_G
        mask = (decoder_input_ids != config.pad_token_id) & (decoder_input_ids != config.eos_token_id)
        mask[:, 0] = True  # the start token is the pad token in T5-style models
        decoder = self.model(encoder_outputs=(encoder_states,), attention_mask=features["attention_mask"],
                             decoder_input_ids=decoder_input_ids, output_hidden_states=True)
        features["token_embeddings"] = decoder.decoder_hidden_states[-1]
        features["token_mask"] = mask
        return features

    def save(self, path: Path) -> None:
        super().save(path)
        self.model.save_pretrained(path / "hf", safe_serialization=True)
        self.tokenizer.save_pretrained(path / "hf")

    @classmethod
    def load(cls, path: Path) -> "Seq2SeqBase":
        config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
        model = AutoModelForSeq2SeqLM.from_pretrained(path / "hf")
        if getattr(model.get_encoder(), "pooler", None) is not None:  # EncoderDecoderModel builds a BERT pooler it never uses
            model.get_encoder().pooler = None
        return cls(**config, model=model, tokenizer=AutoTokenizer.from_pretrained(path / "hf"))

    @classmethod
    def from_pretrained(cls, checkpoint: str | Path, **config) -> "Seq2SeqBase":
        """Any local Hugging Face seq2seq checkpoint folder (no downloads)."""
        return cls(**config, model=AutoModelForSeq2SeqLM.from_pretrained(checkpoint, local_files_only=True),
                   tokenizer=AutoTokenizer.from_pretrained(checkpoint, local_files_only=True))

    @classmethod
    def from_encoder(cls, encoder, tokenizer, decoder_layers: int, warm_decoder: bool, **config) -> "Seq2SeqBase":
        """A BERT encoder (pretrained or not) with a BERT decoder: training.pretrained.encoder_decoder."""
        from training.pretrained import encoder_decoder

        return cls(**config, model=encoder_decoder(encoder, tokenizer, decoder_layers, warm_decoder), tokenizer=tokenizer)


class Pooling(Module):
    """Mean of the generated-information states."""

    def forward(self, features: dict) -> dict:
        mask = features["token_mask"].unsqueeze(-1).to(features["token_embeddings"].dtype)
        features["pooled"] = (features["token_embeddings"] * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return features


class Projection(Module):
    """Several fully-connected layers mapping the pooled state to the fixed-length sentence vector."""

    config_keys = ("dims",)

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = list(dims)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(self.dims, self.dims[1:]))

    def forward(self, features: dict) -> dict:
        x = features["pooled"]
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.gelu(x)
        features["embedding"] = x
        return features


class Normalize(Module):
    def forward(self, features: dict) -> dict:
        features["embedding"] = F.normalize(features["embedding"], p=2, dim=-1)
        return features


MODULE_TYPES = {cls.__name__: cls for cls in (Seq2SeqBase, Pooling, Projection, Normalize)}
