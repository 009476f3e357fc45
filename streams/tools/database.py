"""The local QA database: PostgreSQL 16 with pgvector from the pgserver wheel (PyPI), run as a child process of the
stack like the broker: data under .callqa/, TCP on 127.0.0.1 only, trust authentication (a local server for the
demo, `callqa up` and the tests; a cluster uses an operator's or an external server, docs/operations.md). And the
sink, a process of the stack like the dashboard."""
from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import signal
import subprocess
import sys
from functools import cache
from pathlib import Path

from streams.tools.stack import REPO, Process, StackError, port_open, wait_for

log = logging.getLogger(__name__)
DATABASE = "callqa"  # the database the local server holds for callqa (its URL: Settings.database_dsn)
SERVER_USER = "callqa-postgres"  # as root without user namespaces, the server runs as this system user
# PostgreSQL refuses to run as root. As root it runs in a user namespace of its own where it is uid 1000 and the
# files owned by root are its own: it reaches the repository's folders whatever their modes (a fresh clone in a
# `mktemp -d` folder is closed to every other user).
NAMESPACED = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]


def install_dir() -> Path:
    """pgserver's PostgreSQL build (bin/, lib/ with vector.so), found without importing the package (its import
    sets up process-wide locks this code does not use)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("the pgserver package is not installed (it is a dependency: reinstall the venv)")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall"


@cache
def namespaced() -> bool:
    """As root: whether a user namespace can be made here (util-linux's unshare; some containers forbid it)."""
    if os.geteuid() != 0:
        return False
    try:
        return subprocess.run([*NAMESPACED, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def server_user() -> str | None:
    """The user the server runs as: this one (also as root in a user namespace), or as root without one a system
    user of its own (created once)."""
    if os.geteuid() != 0 or namespaced():
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        log.info("creating the system user %s for the local PostgreSQL (it refuses to run as root)", SERVER_USER)
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
                       check=True, capture_output=True)
    return SERVER_USER


class PostgresServer:
    def __init__(self, data_dir: Path, port: int = 15432, host: str = "127.0.0.1", durable: bool = True):
        """`durable=False` (tests) turns fsync off: a clean stop still writes everything, a machine crash may not."""
        self.data_dir, self.port, self.host, self.durable = Path(data_dir), port, host, durable
        self.process: Process | None = None

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def start(self, timeout_s: float = 60.0) -> "PostgresServer":
        bin_dir = install_dir() / "bin"
        user = server_user()
        if not (self.data_dir / "PG_VERSION").exists():
            self._init(bin_dir, user)
        if port_open(self.host, self.port):
            raise StackError(f"port {self.port} is taken: is another PostgreSQL running? (callqa down)")
        options = {"listen_addresses": self.host, "port": str(self.port), "unix_socket_directories": "",
                   "max_connections": "50", "shared_buffers": "128MB"}
        if not self.durable:
            options.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        argv = [str(bin_dir / "postgres"), "-D", str(self.data_dir), *[f"-c{k}={v}" for k, v in options.items()]]
        argv = NAMESPACED + argv if namespaced() else argv  # unshare execs postgres: same pid, its signals
        self.process = Process("postgres", argv, self.data_dir.parent / f"{self.data_dir.name}.log", user=user,
                               cwd=self.data_dir).start()
        wait_for(self.ready, "PostgreSQL", timeout_s, self.process.proc, self.process.log_file)
        self._create_database()
        return self

    def _init(self, bin_dir: Path, user: str | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            if subprocess.run(["test", "-w", str(self.data_dir)], user=user).returncode != 0:
                raise StackError(f"{self.data_dir}: the user {user} cannot reach it (a parent folder is closed to "
                                 "others): put CALLQA_HOME in a folder others may traverse")
        self.data_dir.chmod(0o700)
        log.info("initialising the QA database's PostgreSQL in %s", self.data_dir)
        argv = [str(bin_dir / "initdb"), "-D", str(self.data_dir), "--auth=trust", "-U", "postgres", "--encoding=UTF8",
                "--locale=C", *([] if self.durable else ["--no-sync"])]
        result = subprocess.run(NAMESPACED + argv if namespaced() else argv, user=user, capture_output=True, text=True,
                                cwd=self.data_dir)
        if result.returncode != 0:
            raise StackError(f"initdb failed:\n{result.stderr[-3000:]}")

    def ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def stop(self) -> None:
        if self.process:
            self.process.stop(sig=signal.SIGINT)  # "fast" shutdown: clients are disconnected, everything is written


def sink_process(env: dict, log_dir: Path, name: str = "sink") -> Process:
    """`callqa sink` as a child process, configured through CALLQA_* variables."""
    return Process(name, [sys.executable, "-m", "streams.cli", "sink"], log_dir / f"{name}.log", env=env, cwd=REPO)
