"""The assembly rules (pure): out-of-order, duplicate and late segments, unknown calls, provisional cadence."""
import subprocess
import sys

import pytest

pytest.importorskip("faust")
from streams.agents.assemble import apply  # noqa: E402
from streams.settings import get_settings  # noqa: E402

START = {"type": "call_start", "call_id": "c1", "user_id": "u1", "event_time": 0}


def seg(seq):
    return {"type": "segment", "call_id": "c1", "user_id": "u1", "seq": seq, "speaker": "customer", "text": f"第{seq}句",
            "start_ms": seq, "end_ms": seq + 1, "event_time": seq}


def test_lifecycle_and_dead_letter_reasons():
    state, emit, reason = apply(None, seg(0))
    assert reason == "unknown_call"
    state, emit, reason = apply(None, START)
    assert reason is None and state["segments"] == {}
    assert apply(state, START)[2] == "call_restarted"
    state, _, _ = apply(state, seg(2))  # out of order is fine: ordered by seq at the end
    state, _, _ = apply(state, seg(0))
    assert apply(state, seg(2))[2] == "duplicate_segment"
    state, emit, reason = apply(state, {"type": "call_end", "call_id": "c1", "user_id": "u1", "segment_count": 3, "event_time": 9})
    assert emit == "final" and reason is None
    closed = {**state, "closed": True}
    assert apply(closed, seg(5))[2] == "segment_after_end"
    assert apply(closed, {"type": "call_end", "call_id": "c1", "user_id": "u1", "segment_count": 3, "event_time": 9})[2] == "duplicate_end"


def test_redelivered_events_change_nothing_and_a_redelivered_end_emits_the_final_again():
    """After a crash the calls table can be ahead of the committed offsets: events come again."""
    state, _, _ = apply(None, START, "0@10")
    assert apply(state, START, "0@10") == (state, None, None)
    state, _, _ = apply(state, seg(0), "0@11")
    assert apply(state, seg(0), "0@11") == (state, None, None)
    assert apply(state, seg(0), "0@12")[2] == "duplicate_segment"  # the same seq sent twice is not a redelivery
    end = {"type": "call_end", "call_id": "c1", "user_id": "u1", "segment_count": 1, "event_time": 9}
    closed, emit, _ = apply(state, end, "0@13")
    assert emit == "final" and closed["closed"] and closed["segments"] == state["segments"]
    assert apply(closed, end, "0@13") == (closed, "final", None)
    assert apply(closed, seg(0), "0@11") == (closed, None, None)
    assert apply(closed, end, "0@14")[2] == "duplicate_end"
    assert apply(closed, seg(1), "0@15")[2] == "segment_after_end"


def test_provisional_every_n_segments():
    every = get_settings().provisional_every
    state, _, _ = apply(None, START)
    emits = []
    for seq in range(2 * every):
        state, emit, _ = apply(state, seg(seq))
        emits.append(emit)
    assert emits.count("provisional") == 2 and emits[every - 1] == "provisional"


def test_worker_never_imports_torch():
    code = "import sys, streams.app, streams.agents, streams.cli; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
