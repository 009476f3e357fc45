"""The local stack as `callqa up` and `callqa demo` run it: the model to serve (built and exported when needed),
then Kafka, the QA database, Triton, supervised workers, the dashboard and the database's sink, stopped in reverse
order."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from streams.core.settings import Settings
from streams.core.topics import create_topics
from streams.tools.database import PostgresServer, sink_process
from streams.tools.sample.generate import write_sample
from streams.tools.stack import (HOME, KafkaBroker, Supervisor, TritonServer, dashboard_process, dashboard_token, port_open,
                                 wait_for, worker_process)
from training.export import REPO_DIR, export as export_model, versions


class NoModel(Exception):
    """triton_repo/ has no model version to serve."""


@contextmanager
def running_stack(settings: Settings, kafka_data: Path, workers: int, database_data: Path | None = None):
    """Kafka, the QA database (the local server in `database_data`, .callqa/postgres by default, unless
    CALLQA_DATABASE_URL names one), Triton, the workers, the dashboard and the sink; yields their addresses (and the
    dashboard's token when it made one; it is shown on the terminal only)."""
    if not versions(REPO_DIR, "callqa_encoder_decoder"):
        raise NoModel("no model version in triton_repo/: run `callqa train all` and `callqa export` (or `make demo`)")
    started = []
    try:
        host, port = settings.kafka_bootstrap_servers.split(":")
        broker = KafkaBroker(kafka_data, port=int(port), host=host).start()
        started.append(broker)
        create_topics(settings)
        database = "CALLQA_DATABASE_URL"
        if not (settings.database_url and settings.database_url.get_secret_value()):
            server = PostgresServer(database_data or HOME / "postgres", port=settings.database_local_port).start()
            started.append(server)
            database = server.url()
        triton_host, grpc_port = settings.triton_url.split(":")
        triton = TritonServer(REPO_DIR, HOME / "logs", grpc_port=int(grpc_port), http_port=int(grpc_port) - 1,
                              metrics_port=int(grpc_port) + 1, host=triton_host).start()
        started.append(triton)
        # Restarted when they exit, as Kubernetes would: the watchdog's way out of a stalled partition is an exit.
        supervisor = Supervisor(lambda name: worker_process(name, {"CALLQA_DATA_DIR": str(HOME / name)}, HOME / "logs"))
        started.append(supervisor)
        for i in range(workers):
            supervisor.start(f"worker-{i}")
        supervisor.tend_every(2.0)
        token, generated = dashboard_token(settings)
        board = dashboard_process({"CALLQA_DASHBOARD_TOKEN": token}, HOME / "logs").start()
        started.append(board)
        host, port = settings.dashboard_host, settings.dashboard_port
        wait_for(lambda: port_open(host, port), "dashboard", 60, board.proc, board.log_file)
        sink = Supervisor(lambda name: sink_process({}, HOME / "logs", name))  # restarted when it exits, like a pod
        started.append(sink)
        sink.start("sink")
        sink.tend_every(2.0)
        yield {"kafka": broker.bootstrap, "triton": triton.grpc_url, "workers": workers, "logs": str(HOME / "logs"),
               "database": database, "dashboard": f"http://{host}:{port}/",
               "dashboard_token": token if generated else None}
    finally:
        for part in reversed(started):
            part.stop()


def serve_model(model: Path | None, say: Callable[[str], None] = print) -> Path:
    """The model folder to serve, exported as the next version of triton_repo/ unless the newest version already is
    that model: `model`, else the full build (.callqa/models/default, `callqa train all`) where there is one, else the
    demo's model (.callqa/models-demo/default: the pretrained base fine-tuned on the telecom sample, built once in
    minutes)."""
    train_dir = HOME / "sample" / "train"
    full = HOME / "models" / "default"
    model_dir = model or (full if (full / "modules.json").exists() else HOME / "models-demo" / "default")
    if not (model_dir / "modules.json").exists():
        if not (train_dir / "truth.jsonl").exists():
            say("writing the training sample…")
            write_sample(train_dir, calls=1500, seed=1)
        profile = "default" if model_dir == full else "demo"
        say(f"[bold]building the {profile} model (once; later runs reuse it): "
                      + ("the four stages" if profile == "default" else
                         "bge-small-zh-v1.5 from Maven Central, fine-tuned on the telecom sample for a few minutes;"
                         " `callqa train all` builds the full model from ../shared/data") + "…[/]")
        from training.build import build_all

        build_all(model_dir.parent, train_dir, profile=profile)
    served = versions(REPO_DIR, "callqa_encoder_decoder")
    info = "checkpoint/callqa_model.json"
    if not served or (REPO_DIR / "callqa_encoder_decoder" / str(served[-1]) / info).read_bytes() != (model_dir / "callqa_model.json").read_bytes():
        say(f"exported model version {export_model(model_dir, REPO_DIR)} to {REPO_DIR}")  # the newest serves
    return model_dir
