"""Cosine matching of a call vector against its candidate labels (method step Y3)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
