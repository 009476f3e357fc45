"""The stall rule: a partition behind its high watermark whose committed offset does not move for the timeout."""
import pytest

pytest.importorskip("faust")
from streams.worker.watchdog import Progress  # noqa: E402


def test_a_partition_behind_and_not_moving_is_stalled():
    watchdog = Progress()
    assert watchdog.check({"p0": 5, "p1": 9}, {"p0": 10, "p1": 9}, now=0, timeout_s=30) == []
    assert watchdog.check({"p0": 5, "p1": 9}, {"p0": 10, "p1": 9}, now=20, timeout_s=30) == []
    assert watchdog.check({"p0": 5, "p1": 9}, {"p0": 10, "p1": 12}, now=31, timeout_s=30) == ["p0"]  # p1: behind since 20
    assert watchdog.check({"p0": 5, "p1": 9}, {"p0": 10, "p1": 12}, now=51, timeout_s=30) == ["p0", "p1"]


def test_progress_caught_up_or_revoked_resets():
    watchdog = Progress()
    watchdog.check({"p0": 5}, {"p0": 10}, now=0, timeout_s=30)
    assert watchdog.check({"p0": 6}, {"p0": 10}, now=31, timeout_s=30) == []  # moved
    assert watchdog.check({"p0": 10}, {"p0": 10}, now=70, timeout_s=30) == []  # caught up
    assert watchdog.check({}, {}, now=71, timeout_s=30) == [] and watchdog.seen == {}  # revoked
    assert watchdog.check({"p0": None}, {"p0": 3}, now=80, timeout_s=30) == []  # never committed counts as 0
    assert watchdog.check({"p0": None}, {"p0": 3}, now=111, timeout_s=30) == ["p0"]
