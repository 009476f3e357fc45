import numpy as np

from streams.worker.steps.candidates import select_candidates
from streams.worker.steps.match import match_labels

CATALOG = [
    {"label_id": "c.data", "task": "complaint", "name": "流量扣费异常", "keywords": ["流量", "扣费"], "active": True},
    {"label_id": "c.bill", "task": "complaint", "name": "话费账单争议", "keywords": ["账单"], "active": True},
    {"label_id": "c.none", "task": "complaint", "name": "无投诉", "keywords": [], "active": True},
    {"label_id": "c.old", "task": "complaint", "name": "旧标签", "keywords": ["流量"], "active": False},
    {"label_id": "p.bb", "task": "product", "name": "家庭宽带", "keywords": ["宽带"], "active": True},
]


def test_keyword_hits_plus_labels_without_keywords():
    labels, source = select_candidates(CATALOG, "complaint", "我这个月流量被多扣了")
    assert [l["label_id"] for l in labels] == ["c.data", "c.none"] and source == "keywords"


def test_no_hit_falls_back_to_all_active_labels_of_the_task():
    labels, source = select_candidates(CATALOG, "complaint", "你好")
    assert [l["label_id"] for l in labels] == ["c.bill", "c.data", "c.none"] and source == "all"


def test_inactive_labels_are_never_candidates():
    assert "c.old" not in [l["label_id"] for l in select_candidates(CATALOG, "complaint", "流量")[0]]


def test_match_picks_most_similar_with_margin_and_top_k():
    labels = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    m = match_labels(np.array([0.8, 0.6], dtype=np.float32), labels, ["a", "b", "c"], k=2)
    assert m.label_id == "b" and abs(m.score - 0.96) < 1e-6 and abs(m.margin - 0.16) < 1e-6
    assert [i for i, _ in m.top_k] == ["b", "a"]
