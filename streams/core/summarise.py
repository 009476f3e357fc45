"""Greedy longest-common-subsequence sentence selection, the method's auto-annotation (X21-X25)."""
from __future__ import annotations

import re

from rapidfuzz.distance import LCSseq

_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;\n]*")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def summarise(text: str, count: int = 3, lcs_length=LCSseq.similarity) -> list[str]:
    """Return up to `count` sentences of `text`, in text order.

    X21 start with an empty summary set; X22 split the text into sentences; X23 join each remaining
    sentence with the summary set and take its LCS length against the rest of the text; X24 move the
    sentence with the largest length into the set; X25 stop at `count` sentences. `lcs_length(a, b)` is
    rapidfuzz's unless the benchmark swaps in its plain-Python baseline.
    """
    sentences = split_sentences(text)
    remaining = list(range(len(sentences)))
    chosen: list[int] = []
    while remaining and len(chosen) < count:
        summary_text = "".join(sentences[i] for i in chosen)
        best, best_len = remaining[0], -1
        for i in remaining:
            rest = "".join(sentences[j] for j in remaining if j != i)
            length = lcs_length(summary_text + sentences[i], rest)
            if length > best_len:  # ties keep the earlier sentence
                best, best_len = i, length
        chosen.append(best)
        remaining.remove(best)
    return [sentences[i] for i in sorted(chosen)]
