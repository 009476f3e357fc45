"""Session fixtures: a real Kafka broker and a real Triton server serving a tiny model trained on the project's
own sample (no ../shared needed). Kafka: $KAFKA_BOOTSTRAP_SERVERS, else testcontainers where Docker answers,
else the local jars. Triton: $TRITON_URL, else the local binary. PostgreSQL with pgvector (the QA database):
$CALLQA_TEST_DATABASE_URL, else the server inside the pgserver wheel; each test gets a database of its own."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from streams.tools.sample.generate import write_sample

REPO = Path(__file__).resolve().parent.parent


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
    """All four stages in the quick profile, on the sample alone. $CALLQA_TEST_MODELS keeps the build between
    sessions (the sample is deterministic, so one build serves every run)."""
    from training.build import build_all

    models = Path(os.environ["CALLQA_TEST_MODELS"]) if os.environ.get("CALLQA_TEST_MODELS") else tmp_path_factory.mktemp("models")
    if not (models / "default" / "modules.json").exists():
        build_all(models, sample_dir, quick=True)
    return models / "default"


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    """(bootstrap servers, the KafkaBroker when this session started one, else None)."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"], None
        return
    if docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server(), None
        return
    from streams.tools.stack import KafkaBroker, free_port

    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"), port=free_port()).start()
    yield broker.bootstrap, broker
    broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka) -> str:
    return kafka[0]


@pytest.fixture
def kafka_broker(kafka):
    """The session's own broker, for tests that stop and restart it."""
    if kafka[1] is None:
        pytest.skip("the broker is not this session's own (KAFKA_BOOTSTRAP_SERVERS or testcontainers)")
    return kafka[1]


@pytest.fixture(scope="session")
def triton_repo(tmp_path_factory, tiny_model) -> Path:
    """A model repository holding the tiny model as version 1."""
    from training.export import REPO_DIR, export

    repo = tmp_path_factory.mktemp("triton_repo")
    for model in ("callqa_encoder_decoder", "callqa_projector", "callqa_embed"):
        shutil.copytree(REPO_DIR / model, repo / model, ignore=shutil.ignore_patterns("[0-9]*", ".*staging"))
    (repo / "callqa_embed" / "1").mkdir(exist_ok=True)
    export(tiny_model, repo)
    return repo


@pytest.fixture(scope="session")
def triton(tmp_path_factory, triton_repo):
    """(gRPC url, the TritonServer when this session started one, else None)."""
    if os.environ.get("TRITON_URL"):
        yield os.environ["TRITON_URL"], None
        return
    from streams.tools.stack import TritonServer, free_port

    server = TritonServer(triton_repo, tmp_path_factory.mktemp("triton_logs"), http_port=free_port(), grpc_port=free_port(),
                          metrics_port=free_port()).start()
    yield server.grpc_url, server
    server.stop()


@pytest.fixture(scope="session")
def triton_url(triton) -> str:
    return triton[0]


@pytest.fixture
def triton_server(triton):
    """The session's own Triton server, for tests that stop and restart it."""
    if triton[1] is None:
        pytest.skip("Triton is not this session's own (TRITON_URL)")
    return triton[1]


@pytest.fixture(scope="session")
def postgres():
    """(URL of a PostgreSQL server with pgvector where tests may create databases, the PostgresServer when this
    session started one, else None). Started in about a second, so the database unit tests run in `make unit`."""
    if os.environ.get("CALLQA_TEST_DATABASE_URL"):
        yield os.environ["CALLQA_TEST_DATABASE_URL"], None
        return
    from streams.tools.database import PostgresServer
    from streams.tools.stack import free_port

    # Not under pytest's own temporary folder: it is closed to others, and as root the server runs as its own user.
    folder = Path(tempfile.mkdtemp(prefix="callqa-pg-"))
    folder.chmod(0o755)
    server = PostgresServer(folder / "data", port=free_port(), durable=False).start()
    yield server.url("postgres"), server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_server(postgres):
    """The session's own PostgreSQL, for tests that stop and restart it."""
    if postgres[1] is None:
        pytest.skip("PostgreSQL is not this session's own (CALLQA_TEST_DATABASE_URL)")
    return postgres[1]


@pytest.fixture
def database_url(postgres) -> str:
    """An empty database of this test's own on the session's server (dropped after the test)."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"t{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres[0], autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_conninfo(postgres[0], dbname=name)
    with psycopg.connect(postgres[0], autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
