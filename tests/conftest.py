"""Session fixtures: a real Kafka broker and a real Triton server serving a tiny model trained on the project's
own sample (no ../shared needed). Kafka: $KAFKA_BOOTSTRAP_SERVERS, else testcontainers where Docker answers,
else the local jars. Triton: $TRITON_URL, else the local binary."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from streams.sample import write_sample

REPO = Path(__file__).resolve().parent.parent
TINY = ["--vocab=build", "--d-model=64", "--d-ff=128", "--num-heads=4", "--num-layers=2", "--num-decoder-layers=1",
        "--generate-tokens=2", "--max-length=512", "--projection-dims=128,64", "--steps=60", "--eval-every=30", "--batch-size=16"]


def docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sample")
    write_sample(path, calls=240, seed=3)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, sample_dir) -> Path:
    from training.config import override
    from training.stages.finetune import FinetuneConfig, train

    out = tmp_path_factory.mktemp("model") / "tiny"
    train(override(FinetuneConfig(sample_dir=str(sample_dir), out_dir=str(out)), TINY))
    return out


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory):
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    if docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    from streams.stack import KafkaBroker, free_port

    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), port=free_port()).start()
    yield broker.bootstrap
    broker.stop()


@pytest.fixture(scope="session")
def triton_url(tmp_path_factory, tiny_model):
    if os.environ.get("TRITON_URL"):
        yield os.environ["TRITON_URL"]
        return
    from streams.stack import TritonServer, free_port
    from training.export import REPO_DIR, export

    repo = tmp_path_factory.mktemp("triton_repo")
    for model in ("callqa_encoder_decoder", "callqa_projector", "callqa_embed"):
        shutil.copytree(REPO_DIR / model, repo / model, ignore=shutil.ignore_patterns("[0-9]*", ".*staging"))
    (repo / "callqa_embed" / "1").mkdir(exist_ok=True)
    export(tiny_model, repo)
    server = TritonServer(repo, tmp_path_factory.mktemp("triton_logs"), http_port=free_port(), grpc_port=free_port(),
                          metrics_port=free_port()).start()
    yield server.grpc_url
    server.stop()
