"""The eval harness: metric definitions on hand-made scores, the splits' candidate sets, the baselines, ROUGE-L."""
import json
import random

import numpy as np
import pytest

from training.data import Dialogue, read_dialogues, split_csds
from training.evaluate import (LexicalScorer, TfidfLogRegScorer, attribution_metrics, compare, evaluate_file,
                               load_label_names, longest_common_substring, rouge_l)

TOPICS = ["退货", "发票", "配送", "修改订单", "价格保护", "会员", "优惠券", "售后维修", "账户安全", "积分"]
PRODUCTS = {"手机": "屏幕电池信号", "水果": "新鲜甜汁多", "酒店": "房间前台早餐"}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def csds_file(tmp_path):
    rng = random.Random(0)
    rows = []
    for i in range(120):
        labels = rng.sample(TOPICS, rng.choice([1, 1, 2]))
        turns = [{"speaker": "user", "text": f"你好，我想问一下{labels[0]}的事情"}, {"speaker": "agent", "text": "好的请稍等。"}]
        turns += [{"speaker": "user", "text": f"还有{label}怎么弄"} for label in labels[1:]]
        rows.append({"id": f"c{i}", "turns": turns, "labels": labels, "summary": f"用户询问{labels[0]}。客服回答请稍等。"})
    return write_jsonl(tmp_path / "csds.jsonl", rows)


class FirstLabel:
    """Prefers labels in catalog order: always predicts the first candidate."""

    name = "fake:first"

    def scores(self, dialogues, task, label_names):
        return np.tile(-np.arange(len(label_names), dtype=float), (len(dialogues), 1))


def test_top1_top3_multi_gold_and_f1():
    names = ["a", "b", "c", "d"]
    scores = np.array([[0.9, 0.8, 0.1, 0.0],   # predicts a; gold (b, a) -> top-1 hit
                       [0.1, 0.9, 0.8, 0.7],   # predicts b; gold (d,) -> top-3 hit only
                       [0.5, 0.5, 0.9, 0.0],   # predicts c; gold (a,) -> miss in top-1, a beats b on the tie for top-3
                       [0.0, 0.0, 0.0, 0.0]])  # all tied: label order -> a; gold (d,) -> miss, d is 4th
    gold = [("b", "a"), ("d",), ("a",), ("d",)]
    m = attribution_metrics(scores, gold, names)
    assert m["n"] == 4 and m["top1"] == 0.25 and m["top3"] == 0.75
    # F1 pairs (true, pred): (a, a), (d, b), (a, c), (d, a): a has P 1/2, R 1/2; b, c, d score 0 -> macro 0.5 / 4
    assert m["macro_f1"] == pytest.approx(0.125)
    assert m["gold_outside_candidates"] == 0


def test_unseen_restricts_candidates_and_gold(csds_file):
    result = evaluate_file(csds_file, FirstLabel(), summary_sentences=())
    parts = split_csds(read_dialogues(csds_file), 0)
    unseen = parts["unseen_labels"]
    assert result["metrics"]["unseen"]["candidates"] == len(unseen) >= 1
    assert result["metrics"]["unseen_gzsl"]["candidates"] == result["metrics"]["test"]["candidates"] == len(TOPICS)
    first_unseen, first = unseen[0], sorted(TOPICS)[0]
    expected = np.mean([first_unseen in d.labels for d in parts["unseen"]])
    assert result["metrics"]["unseen"]["top1"] == pytest.approx(expected)
    # Generalised: every candidate, gold only the unseen labels; the first label is a seen one here.
    assert first not in unseen and result["metrics"]["unseen_gzsl"]["top1"] == 0.0
    assert result["split_sizes"]["unseen"] == len(parts["unseen"]) and result["summaries"] is None


def test_lexical_ranks_the_named_label_first(csds_file, tmp_path):
    d = Dialogue("x", [{"speaker": "customer", "text": "我要开发票，发票抬头写错了"}], ("发票",))
    scores = LexicalScorer().scores([d], "topic", ["退货", "发票", "修改订单", "票"])
    assert int(np.argmax(scores[0])) == 1  # 发票 beats 票 (same share, longer match, more mentions)
    assert longest_common_substring("修改订单", "我想改订单地址") == 3
    result = evaluate_file(csds_file, "baseline:lexical", out=tmp_path / "r.json")
    assert result["metrics"]["test"]["top1"] == 1.0 and result["metrics"]["unseen"]["top1"] == 1.0
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["scorer"] == "baseline:lexical"
    assert set(result["summaries"]["rouge_l_f1"]) == {"lcs_dialogue", "lcs_context", "lcs_pipeline", "lead_dialogue"}


def test_tfidf_learns_products_and_cannot_rank_unseen(tmp_path):
    rng = random.Random(1)
    rows = [{"id": f"p{i}", "text": "".join(rng.choices(PRODUCTS[cat], k=6)) + "不错", "product_category": cat}
            for i, cat in enumerate(rng.choice(list(PRODUCTS)) for _ in range(1300))]
    path = write_jsonl(tmp_path / "products.jsonl", rows)
    result = evaluate_file(path, "baseline:tfidf-lr")
    assert result["format"] == "products" and result["metrics"]["test"]["accuracy"] == 1.0
    assert result["metrics"]["test"]["macro_f1"] == 1.0 and result["split_sizes"] == {"train": 170, "test": 130}
    scorer = TfidfLogRegScorer(read_dialogues(path)[:100])
    d = read_dialogues(path)[:2]
    assert np.isneginf(scorer.scores(d, "product", ["手机", "电视"])[:, 1]).all()
    assert (scorer.scores(d, "product", ["电视", "冰箱"]) == 0).all()  # none known: a tie, broken by label order


def test_rouge_l_by_hand():
    # LCS(用户询问退款, 用户要求退款) = 用户退款 = 4; P = R = 4/6 -> F1 = 2/3
    assert rouge_l("用户询问退款", "用户要求退款") == pytest.approx(2 / 3)
    assert rouge_l("", "用户") == 0.0 and rouge_l("用户", "用户") == 1.0


def test_label_files(tmp_path):
    events = [{"label_id": "p.a", "task": "product", "name": "宽带", "active": True},
              {"label_id": "p.b", "task": "product", "name": "旧套餐", "active": False},
              {"label_id": "c.a", "task": "complaint", "name": "扣费", "active": True}]
    assert load_label_names(write_jsonl(tmp_path / "l.jsonl", events), "product") == ["宽带"]
    (tmp_path / "l.txt").write_text("发票\n退货\n\n发票\n", encoding="utf-8")
    assert load_label_names(tmp_path / "l.txt") == ["发票", "退货"]


def test_compare_markdown():
    rows = [{"file": "/x/csds.jsonl", "scorer": "baseline:lexical", "summaries": None,
             "metrics": {"test": {"top1": 0.5, "top3": 0.75, "macro_f1": 0.25}}},
            {"file": "/x/csds.jsonl", "scorer": "model:m", "summaries": None,
             "metrics": {"test": {"top1": 0.6, "top3": 0.8, "macro_f1": 0.3}, "unseen": {"top1": 0.1}}}]
    rows[0]["metrics"]["test"]["top1_ci95"] = [0.4, 0.6]
    lines = compare(rows).splitlines()
    assert lines[0] == "| file | scorer | test top-1 | test top-3 | test macro-F1 | unseen top-1 |"
    assert lines[2] == "| csds.jsonl | baseline:lexical | 50.0 (40.0–60.0) | 75.0 | 25.0 | – |"
    assert lines[3].endswith("| 10.0 |")


def test_prior_predicts_the_most_frequent_training_label():
    from training.evaluate import PriorScorer

    train = [Dialogue(str(i), [], labels) for i, labels in enumerate([("发票",), ("发票", "配送"), ("配送",), ("发票",)])]
    scores = PriorScorer(train).scores([Dialogue("x", [{"speaker": "customer", "text": "配送"}])], "topic", ["配送", "会员", "发票"])
    assert scores.tolist() == [[2.0, 0.0, 3.0]]


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_n():
    from training.evaluate import bootstrap_ci

    small, large = bootstrap_ci([True, False] * 10), bootstrap_ci([True, False] * 500)
    assert small[0] < 0.5 < small[1] and large[0] < 0.5 < large[1]
    assert large[1] - large[0] < small[1] - small[0]
    assert bootstrap_ci([True] * 5) == [1.0, 1.0]
