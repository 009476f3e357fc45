"""The local stack's supervisor starts a worker that exited again and records how it exited; once stopped, it
starts nothing (a tend racing the stop must not leave a worker behind)."""
import sys
import time

from streams.tools import stack
from streams.tools.stack import Process, Supervisor


def test_supervisor_restarts_exited_workers_and_stops_for_good(tmp_path, monkeypatch):
    monkeypatch.setattr(stack, "RUN_DIR", tmp_path / "run")
    spawned = []

    def spawn(name: str) -> Process:
        code = "import sys; sys.exit(70)" if name == "stalls" and not spawned.count(name) else "import time; time.sleep(60)"
        spawned.append(name)
        return Process(name, [sys.executable, "-c", code], tmp_path / f"{name}.log")

    workers = Supervisor(spawn)
    workers.start("stalls")
    workers.start("steady")
    deadline = time.monotonic() + 20
    while workers.workers["stalls"].proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    workers.tend()
    assert workers.exits == [("stalls", 70)]
    assert spawned == ["stalls", "steady", "stalls"]
    assert all(w.proc.poll() is None for w in workers.workers.values())

    workers.stop()
    assert all(w.proc.poll() is not None for w in workers.workers.values())
    workers.tend()
    workers.start("late")
    assert spawned == ["stalls", "steady", "stalls"] and workers.exits == [("stalls", 70)]
