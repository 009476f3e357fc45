from streams.core.codec import validator
from streams.worker.steps.outputs import window_counts

LABEL = {"task": "complaint", "name": "流量扣费异常"}


def test_window_counts_sum_the_last_minutes():
    now = 10_000 * 60 + 30  # half a minute into minute 10000
    per_minute = {10_000 * 60.0: 2, 9_996 * 60.0: 1, 9_995 * 60.0: 4, 9_950 * 60.0: 8, 9_900 * 60.0: 100}
    record = window_counts("complaint.data_overcharge", LABEL, per_minute, now)
    validator("label_count")(record.to_dict())
    # 5 minutes: 9996..10000; 15: 9986..10000; 60: 9941..10000 (minute 9900 has expired from view)
    assert record.counts == {"5m": 3, "15m": 7, "60m": 15}
    assert record.rise == round(3 / 5 - 4 / 10, 3)
    assert len(record.per_minute) == 60 and record.per_minute[-1] == {"minute": 10_000 * 60_000, "count": 2}
    assert record.window_end == 10_001 * 60_000
