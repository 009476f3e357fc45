"""`callqa export`: a trained model becomes the next numbered version of the Triton models."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from training.model import CallqaModel, load

REPO_DIR = Path(__file__).resolve().parent.parent / "triton_repo"
ENCODER_DECODER, PROJECTOR = "callqa_encoder_decoder", "callqa_projector"


def versions(repo: Path, model: str) -> list[int]:
    return sorted(int(p.name) for p in (repo / model).iterdir() if p.is_dir() and p.name.isdigit())


def export(model_dir: Path, repo: Path = REPO_DIR) -> int:
    """Write version N+1 of both Python models (one number for both, so their outputs name one version)."""
    model = load(model_dir)
    version = max([0, *versions(repo, ENCODER_DECODER), *versions(repo, PROJECTOR)]) + 1
    for name, only in ((ENCODER_DECODER, ("Seq2SeqBase", "Pooling")), (PROJECTOR, ("Projection", "Normalize"))):
        target = repo / name / str(version)
        staging = repo / name / f".{version}.staging"  # Triton never sees a half-written version
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        shutil.copy(repo / name / "model.py", staging / "model.py")
        model.save(staging / "checkpoint", only=only)
        staging.rename(target)
    return version


def load_served(args: dict) -> tuple[CallqaModel, dict]:
    """For a Triton Python model's initialize(): its config, and the checkpoint in its version folder."""
    config = json.loads(args["model_config"])
    torch.set_num_threads(int(config["parameters"]["threads"]["string_value"]))
    model = load(Path(args["model_repository"]) / args["model_version"] / "checkpoint")
    if args.get("model_instance_kind") == "GPU":  # KIND_GPU instance groups (deploy/): compute where Triton placed us
        model.to(f"cuda:{args['model_instance_device_id']}")
    return model, config
