"""The model container: an ordered list of modules saved as `{idx}_{Class}/` plus `modules.json` and
`callqa_model.json` (template and versions the model was trained with)."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from streams.core.render import Template
from training.modules import MODULE_TYPES, Normalize, Pooling, Projection, Seq2SeqBase

INFO = "callqa_model.json"
INDEX = "modules.json"


class CallqaModel(nn.Sequential):
    def __init__(self, *modules: nn.Module, info: dict | None = None) -> None:
        super().__init__(*modules)
        self.info = info or {}

    @property
    def base(self) -> Seq2SeqBase:
        return self[0]

    @property
    def template(self) -> Template:
        return Template(**self.info["template"])

    def pooled(self, texts: list[str]) -> torch.Tensor:
        """Base + pooling: what the `callqa_encoder_decoder` Triton model serves."""
        features = self.base.tokenize(texts)
        for module in self[:2]:
            features = module(features)
        return features["pooled"]

    def project(self, pooled: torch.Tensor) -> torch.Tensor:
        """Projection + normalisation: what the `callqa_projector` Triton model serves."""
        features = {"pooled": pooled}
        for module in self[-2:]:
            features = module(features)
        return features["embedding"]

    def encode(self, texts: list[str]) -> torch.Tensor:
        return self.project(self.pooled(texts))

    def save(self, path: Path, only: tuple[str, ...] | None = None) -> None:
        """Write to a temp folder beside `path`, then move it into place: a reader never sees half a model."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        index = []
        for idx, module in enumerate(self):
            name = type(module).__name__
            if only and name not in only:
                continue
            module.save(tmp / f"{idx}_{name}")
            index.append({"idx": idx, "name": name, "path": f"{idx}_{name}", "type": name})
        (tmp / INDEX).write_text(json.dumps(index, indent=2), encoding="utf-8")
        (tmp / INFO).write_text(json.dumps(self.info, indent=2, ensure_ascii=False), encoding="utf-8")
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)


def load(path: str | Path) -> CallqaModel:
    path = Path(path)
    index = json.loads((path / INDEX).read_text(encoding="utf-8"))
    modules = [MODULE_TYPES[entry["type"]].load(path / entry["path"]) for entry in index]
    return CallqaModel(*modules, info=json.loads((path / INFO).read_text(encoding="utf-8"))).eval()


def build(base: Seq2SeqBase, template: Template, projection_dims: tuple[int, ...] = (512, 256)) -> CallqaModel:
    """Method stage 1, model set-up: base + pooling + several FC layers + normalisation."""
    import transformers

    info = {
        "template": {"version": template.version, "context": template.context, "prompts": template.prompts,
                     "max_dialogue_chars": template.max_dialogue_chars, "head_share": template.head_share},
        "template_version": template.version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    return CallqaModel(base, Pooling(), Projection([base.hidden_size, *projection_dims]), Normalize(), info=info)
