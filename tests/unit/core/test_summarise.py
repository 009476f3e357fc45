from rapidfuzz.distance import LCSseq

from streams.core.summarise import split_sentences, summarise


def test_split_sentences():
    assert split_sentences("你好。流量不够！怎么办？好") == ["你好。", "流量不够！", "怎么办？", "好"]


def test_greedy_lcs_worked_by_hand():
    # Sentences A=流量超了。 B=我的流量超了很多。 C=好的。 D=流量超了要退费。
    # Round 1, empty set: each sentence against the other three. A: 流量超了。=5; B: 的流量超了。=6
    # (的 from 好的); C: 的。=2; D: 流量超了。=5. B is the best.
    text = "流量超了。我的流量超了很多。好的。流量超了要退费。"
    sentences = split_sentences(text)
    scores = [LCSseq.similarity(s, "".join(o for o in sentences if o != s)) for s in sentences]
    assert scores == [5, 6, 2, 5]
    assert summarise(text, 1) == ["我的流量超了很多。"]
    # Round 2, set {B}: B+A vs C+D = 7 (的。流量超了。), B+C vs A+D = 6, B+D vs A+C = 6 -> A; text order kept.
    assert summarise(text, 2) == ["流量超了。", "我的流量超了很多。"]


def test_count_larger_than_text():
    assert summarise("只有一句。", 3) == ["只有一句。"]
    assert summarise("", 3) == []
