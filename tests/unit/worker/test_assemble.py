"""The assembly rules (pure): out-of-order, duplicate and late segments, unknown calls, provisional cadence."""
import pytest

pytest.importorskip("faust")
from streams.core.records import CallEnd, CallStart, Segment  # noqa: E402
from streams.core.settings import Settings  # noqa: E402
from streams.worker.steps.assembly import DEFAULT_LIMITS, CallLimits, apply  # noqa: E402

START = CallStart(call_id="c1", user_id="u1", event_time=0)


def seg(seq, text=None):
    return Segment(call_id="c1", user_id="u1", seq=seq, speaker="customer", text=text if text is not None else f"第{seq}句",
                   start_ms=seq, end_ms=seq + 1, event_time=seq)


def end(segment_count):
    return CallEnd(call_id="c1", user_id="u1", segment_count=segment_count, event_time=9)


def test_lifecycle_and_dead_letter_reasons():
    state, emit, reason = apply(None, seg(0))
    assert reason == "unknown_call"
    state, emit, reason = apply(None, START)
    assert reason is None and state["segments"] == {}
    assert apply(state, START)[2] == "call_restarted"
    state, _, _ = apply(state, seg(2))  # out of order is fine: ordered by seq at the end
    state, _, _ = apply(state, seg(0))
    assert apply(state, seg(2))[2] == "duplicate_segment"
    state, emit, reason = apply(state, end(3))
    assert emit == "final" and reason is None
    closed = {**state, "closed": True}
    assert apply(closed, seg(5))[2] == "segment_after_end"
    assert apply(closed, end(3))[2] == "duplicate_end"


def test_redelivered_events_change_nothing_and_a_redelivered_end_emits_the_final_again():
    """After a crash the calls table can be ahead of the committed offsets: events come again."""
    state, _, _ = apply(None, START, "0@10")
    assert apply(state, START, "0@10") == (state, None, None)
    state, _, _ = apply(state, seg(0), "0@11")
    assert apply(state, seg(0), "0@11") == (state, None, None)
    assert apply(state, seg(0), "0@12")[2] == "duplicate_segment"  # the same seq sent twice is not a redelivery
    closed, emit, _ = apply(state, end(1), "0@13")
    assert emit == "final" and closed["closed"] and closed["segments"] == state["segments"]
    assert apply(closed, end(1), "0@13") == (closed, "final", None)
    assert apply(closed, seg(0), "0@11") == (closed, None, None)
    assert apply(closed, end(1), "0@14")[2] == "duplicate_end"
    assert apply(closed, seg(1), "0@15")[2] == "segment_after_end"


def test_the_default_limits_are_the_settings_defaults():
    assert DEFAULT_LIMITS == CallLimits.from_settings(Settings())


def test_provisional_every_n_segments():
    every = DEFAULT_LIMITS.provisional_every
    state, _, _ = apply(None, START)
    emits = []
    for seq in range(2 * every):
        state, emit, _ = apply(state, seg(seq))
        emits.append(emit)
    assert emits.count("provisional") == 2 and emits[every - 1] == "provisional"


def test_a_float_sequence_number_assembles():
    """seq 1.0 passes the schema; the assembly raised ValueError at call_end and the call was lost (issue 17)."""
    from streams.core.codec import decode
    from streams.worker.steps.assembly import snapshot

    raw = b'{"type":"segment","call_id":"c1","user_id":"u1","seq":1.0,"speaker":"customer","text":"x","start_ms":0,' \
          b'"end_ms":1,"event_time":0}'
    state, _, _ = apply(None, START)
    state, _, _ = apply(state, decode(raw, {"segment": "segment"}))
    assert apply(state, seg(1))[2] == "duplicate_segment"  # 1.0 and 1 are the same sequence number
    ready = snapshot("c1", state, True, 0, False, expected=decode(
        b'{"type":"call_end","call_id":"c1","user_id":"u1","segment_count":2.0,"event_time":0}', {"call_end": "call_end"}
    ).segment_count)
    assert ready.segment_count == 1 and ready.missing_seqs == [0]


def test_a_segment_without_words_counts_with_no_text():
    state, _, _ = apply(None, START)
    state, _, reason = apply(state, seg(0, "😀😀！"))
    assert reason is None and state["segments"]["0"]["text"] == ""


def test_a_call_past_its_bounds_dead_letters_the_segment():
    state, _, _ = apply(None, START)
    state, _, _ = apply(state, seg(0, "话" * (DEFAULT_LIMITS.max_chars - 1)))
    assert apply(state, seg(1, "你好"))[2] == "call_too_large"
    assert apply(state, seg(1, "好"))[2] is None
    few = CallLimits(max_segments=1, max_chars=100, provisional_every=0)
    assert apply(apply(None, START, limits=few)[0], seg(0), limits=few)[1:] == (None, None)  # no provisional at 0
    assert apply(state, seg(1, "好"), limits=few)[2] == "call_too_large"
