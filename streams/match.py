"""Candidate labels by keyword (method step Y2) and cosine matching of a call vector against them (Y3)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def select_candidates(catalog: list[dict], task: str, call_text: str) -> tuple[list[dict], str]:
    """Active labels of `task` whose keywords occur in the call, plus labels without keywords (they cannot be
    found by keyword, e.g. 无投诉); all active labels of the task when no keyword matches."""
    active = sorted((l for l in catalog if l["task"] == task and l["active"]), key=lambda l: l["label_id"])
    hit = [l for l in active if any(k in call_text for k in l["keywords"])]
    if not hit:
        return active, "all"
    return [l for l in active if not l["keywords"] or l in hit], "keywords"


@dataclass(frozen=True)
class Match:
    label_id: str
    score: float
    margin: float
    top_k: list[tuple[str, float]]


def match_labels(call_vector: np.ndarray, label_vectors: np.ndarray, label_ids: list[str], k: int) -> Match:
    """Vectors are L2-normalised, so the dot product is the cosine similarity."""
    scores = label_vectors @ call_vector
    order = np.argsort(-scores, kind="stable")
    best = float(scores[order[0]])
    runner_up = float(scores[order[1]]) if len(order) > 1 else -1.0
    top = [(label_ids[i], float(scores[i])) for i in order[:k]]
    return Match(label_ids[order[0]], best, best - runner_up, top)
