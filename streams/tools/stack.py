"""The embedded local stack: a real Apache Kafka broker (KRaft, jars from Maven Central), a real Triton server
(the binary in the nvidia-pytriton wheel) and the Faust workers, started and stopped as child processes."""
from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Callable

from streams.core import model_control

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "local"
HOME = Path(os.environ.get("CALLQA_HOME", REPO / ".callqa"))  # the state folder git ignores (not a setting of the worker)


RUN_DIR = HOME / "run"  # pid files of the children, for `callqa down`


class StackError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, timeout_s: float, proc: subprocess.Popen | None = None, log_file: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log_file.read_text(errors="replace")[-3000:] if log_file and log_file.exists() else ""
            raise StackError(f"{what} exited with {proc.returncode} while starting:\n{tail}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise StackError(f"{what} not ready after {timeout_s:.0f}s")


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


@dataclass
class Process:
    """A child in its own session, so stopping it takes its children too."""

    name: str
    argv: list[str]
    log_file: Path
    env: dict = field(default_factory=dict)
    cwd: Path | None = None
    proc: subprocess.Popen | None = None
    user: str | None = None  # run as this user (we are root; PostgreSQL refuses to run as root)

    def start(self) -> "Process":
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_file, "ab")
        identity = {}
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            identity = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, **self.env}, cwd=self.cwd, start_new_session=True, **identity)
        out.close()
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        (RUN_DIR / f"{self.name}.pid").write_text(str(self.proc.pid))
        log.info("started %s (pid %d), log %s", self.name, self.proc.pid, self.log_file)
        return self

    def stop(self, timeout_s: float = 30.0, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)  # the main process only: Triton stops its own backend stubs
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0fs; killing it", self.name, timeout_s)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever the session still holds
        except ProcessLookupError:
            pass
        self.proc.wait()
        (RUN_DIR / f"{self.name}.pid").unlink(missing_ok=True)
        log.info("stopped %s (exit %s)", self.name, self.proc.returncode)

    def kill(self) -> None:
        self.stop(sig=signal.SIGKILL)


class Supervisor:
    """Keeps named workers up as Kubernetes would: a worker that exits (the watchdog's way out of a stalled
    partition, or a crash) is started again by `tend()`. Records how each one exited."""

    def __init__(self, spawn: Callable[[str], Process]) -> None:
        self.spawn, self.workers, self.exits = spawn, {}, []
        self._lock, self._stopped = threading.Lock(), threading.Event()

    def start(self, name: str) -> None:
        with self._lock:
            if not self._stopped.is_set():  # a tend() racing stop() starts nothing
                self.workers[name] = self.spawn(name).start()

    def kill(self, name: str) -> None:
        self.workers[name].kill()
        self.start(name)

    def tend(self) -> None:
        for name, worker in list(self.workers.items()):
            if worker.proc.poll() is not None and not self._stopped.is_set():
                log.warning("%s exited with %s: starting it again", name, worker.proc.returncode)
                self.exits.append((name, worker.proc.returncode))
                self.start(name)

    def tend_every(self, interval_s: float) -> None:
        """`tend()` on a daemon thread until `stop()`."""
        def loop() -> None:
            while not self._stopped.wait(interval_s):
                self.tend()

        threading.Thread(target=loop, name="supervisor", daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            self._stopped.set()
            for worker in self.workers.values():
                worker.stop()


def stop_recorded(timeout_s: float = 30.0) -> list[str]:
    """Stop children recorded by an earlier `callqa up` or demo that did not end cleanly (workers first)."""
    stopped = []
    # The database last (its clients first), with SIGINT: PostgreSQL's fast shutdown (SIGTERM waits for clients).
    for pid_file in sorted(RUN_DIR.glob("*.pid"), key=lambda p: ("worker" not in p.name, p.name != "triton.pid",
                                                                p.name == "postgres.pid")):
        pid = int(pid_file.read_text())
        try:
            os.killpg(pid, signal.SIGINT if pid_file.name == "postgres.pid" else signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                os.killpg(pid, 0)
                time.sleep(0.2)
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        pid_file.unlink(missing_ok=True)
        stopped.append(pid_file.stem)
    return stopped


# --- Kafka -----------------------------------------------------------------------------------------------------

def kafka_libs(home: Path = HOME) -> Path:
    """The broker's jars, resolved once by Maven from deploy/local/pom.xml (Maven also caches under ~/.m2)."""
    libs = home / "kafka" / "libs"
    if not (libs / ".complete").exists():
        log.info("resolving the Kafka broker's jars with Maven into %s", libs)
        subprocess.run(["mvn", "-q", "-B", "-f", str(DEPLOY / "pom.xml"), "dependency:copy-dependencies",
                        f"-DoutputDirectory={libs}"], check=True)
        (libs / ".complete").touch()
    return libs


class KafkaBroker:
    def __init__(self, data_dir: Path, port: int = 19092, host: str = "127.0.0.1", home: Path = HOME, heap_mb: int = 512,
                 extra: dict[str, str] | None = None):
        """`extra` properties replace or add to deploy/local/server.properties (e.g. a TLS listener)."""
        self.data_dir, self.port, self.host, self.home, self.heap_mb = Path(data_dir), port, host, home, heap_mb
        self.extra = extra or {}
        self.controller_port = free_port() if port != 19092 else 19093
        self.process: Process | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 60.0) -> "KafkaBroker":
        libs = kafka_libs(self.home)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self.data_dir / "server.properties"
        props.write_text(Template((DEPLOY / "server.properties").read_text()).substitute(
            host=self.host, port=self.port, controller_port=self.controller_port, data_dir=self.data_dir / "logs")
            + "".join(f"{k}={v}\n" for k, v in self.extra.items()))  # the last value of a key wins
        java = ["java", f"-Xmx{self.heap_mb}m", f"-Dlog4j2.configurationFile={DEPLOY / 'log4j2.properties'}", "-cp", f"{libs}/*"]
        if not (self.data_dir / "logs" / "meta.properties").exists():
            cluster_id = uuid.uuid4().hex[:22]
            subprocess.run([*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
                           check=True, capture_output=True)
        if port_open(self.host, self.port):
            raise StackError(f"port {self.port} is taken: is another broker running? (callqa down)")
        self.process = Process("kafka", [*java, "kafka.Kafka", str(props)], self.data_dir / "kafka.log").start()
        wait_for(self.ready, "Kafka broker", timeout_s, self.process.proc, self.process.log_file)
        return self

    def ready(self) -> bool:
        from confluent_kafka.admin import AdminClient

        if not port_open(self.host, self.port):
            return False
        AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=3)
        return True

    def stop(self) -> None:
        if self.process:
            self.process.stop()


# --- Triton ----------------------------------------------------------------------------------------------------

def triton_dist(home: Path = HOME) -> tuple[Path, Path]:
    """The tritonserver binary from the nvidia-pytriton wheel, and a backends folder with the stub for our Python."""
    import pytriton

    server_dir = Path(pytriton.__file__).parent / "tritonserver"
    dist = home / "triton"
    stub = dist / "backends" / "python" / "triton_python_backend_stub"
    if not stub.exists():
        dist.mkdir(parents=True, exist_ok=True)
        for part in ("backends", "caches"):
            shutil.copytree(server_dir / part, dist / part, dirs_exist_ok=True)
        shutil.copy(server_dir / "python_backend_stubs" / f"{sys.version_info.major}.{sys.version_info.minor}"
                    / "triton_python_backend_stub", stub)
    return server_dir / "bin" / "tritonserver", dist


TRITON_EXIT_TIMEOUT_S = 60


class TritonServer:
    def __init__(self, model_repo: Path, log_dir: Path, http_port: int = 18000, grpc_port: int = 18001,
                 metrics_port: int = 18002, host: str = "127.0.0.1", home: Path = HOME, extra_args: tuple[str, ...] = ()):
        """`extra_args` go to tritonserver as they are (e.g. the --grpc-use-ssl options)."""
        self.model_repo, self.log_dir, self.host, self.home = Path(model_repo), Path(log_dir), host, home
        self.extra_args = tuple(extra_args)
        self.http_port, self.grpc_port, self.metrics_port = http_port, grpc_port, metrics_port
        self.process: Process | None = None

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def start(self, timeout_s: float = 600.0) -> "TritonServer":  # loading took 3+ min on a shared, busy 2-core machine
        binary, dist = triton_dist(self.home)
        venv_bin = Path(sys.executable).parent
        site = Path(sysconfig.get_paths()["purelib"])
        env = {
            # The backend stub finds the venv through `python3` on PATH and loads the base interpreter's libpython.
            "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
            "LD_LIBRARY_PATH": f"{sysconfig.get_config_var('LIBDIR')}:{site / 'nvidia_pytriton.libs'}:{os.environ.get('LD_LIBRARY_PATH', '')}",
        }
        for port in (self.http_port, self.grpc_port, self.metrics_port):
            if port_open(self.host, port):
                raise StackError(f"port {port} is taken: is another Triton running? (callqa down)")
        argv = [str(binary), f"--model-repository={self.model_repo}", f"--backend-directory={dist / 'backends'}",
                f"--cache-directory={dist / 'caches'}", "--model-control-mode=explicit", "--load-model=*",
                f"--http-address={self.host}", f"--grpc-address={self.host}", f"--metrics-address={self.host}",
                f"--http-port={self.http_port}", f"--grpc-port={self.grpc_port}", f"--metrics-port={self.metrics_port}",
                "--log-verbose=0", "--exit-on-error=true",
                # Unloading the Python-backend models takes several seconds, and over 20 s on a busy machine: with
                # 5 s, every clean stop ended "Exit timeout expired" and exit 1. stop() waits a little longer.
                f"--exit-timeout-secs={TRITON_EXIT_TIMEOUT_S}",
                # Model control (explicit mode: the retrain loads each new version) only with the repository's
                # token: any other local process may infer, not load or unload (streams/core/model_control.py).
                *model_control.server_args(model_control.token(self.model_repo, create=True)), *self.extra_args]
        # Never start from a folder holding `triton/`: the stub's sys.path[0] is the working directory.
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.process = Process("triton", argv, self.log_dir / "triton.log", env=env, cwd=self.log_dir).start()
        wait_for(self.ready, "Triton server", timeout_s, self.process.proc, self.process.log_file)
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http_url}/v2/health/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process:
            self.process.stop(timeout_s=TRITON_EXIT_TIMEOUT_S + 15)


# --- Workers ---------------------------------------------------------------------------------------------------

def worker_process(name: str, env: dict, log_dir: Path, module: str = "streams.cli") -> Process:
    """`callqa worker` (or another worker entry `module`) as a child process, configured through CALLQA_* variables."""
    command = [sys.executable, "-m", module] + (["worker"] if module == "streams.cli" else [])
    return Process(name, command, log_dir / f"{name}.log", env=env, cwd=REPO)


def dashboard_process(env: dict, log_dir: Path) -> Process:
    """`callqa dashboard` as a child process; CALLQA_DASHBOARD_TOKEN in `env` is its login token."""
    return Process("dashboard", [sys.executable, "-m", "streams.cli", "dashboard"], log_dir / "dashboard.log", env=env, cwd=REPO)


def dashboard_token(settings) -> tuple[str, bool]:
    """The configured login token, else a new random one: (token, generated)."""
    import secrets

    if settings.dashboard_token and settings.dashboard_token.get_secret_value():
        return settings.dashboard_token.get_secret_value(), False
    return secrets.token_urlsafe(16), True
