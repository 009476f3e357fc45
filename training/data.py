"""Training examples from the project's event files, rendered by the serving renderer (streams.render)."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from streams.render import Template, render, render_label

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass(frozen=True)
class Call:
    call_id: str
    turns: list[dict]
    account: dict | None
    labels: dict[str, str]  # task -> label_id


def load_calls(sample_dir: Path) -> list[Call]:
    """Calls of a sample folder (transcript.jsonl, accounts.jsonl, truth.jsonl) with their true labels."""
    accounts = {a["user_id"]: a for a in read_jsonl(sample_dir / "accounts.jsonl")}
    segments: dict[str, list[dict]] = {}
    for event in read_jsonl(sample_dir / "transcript.jsonl"):
        if event["type"] == "segment":
            segments.setdefault(event["call_id"], []).append(event)
    calls = []
    for truth in read_jsonl(sample_dir / "truth.jsonl"):
        turns = [{"speaker": s["speaker"], "text": s["text"]} for s in sorted(segments[truth["call_id"]], key=lambda s: s["seq"])]
        calls.append(Call(truth["call_id"], turns, accounts.get(truth["user_id"]),
                          {"product": truth["product"], "complaint": truth["complaint"]}))
    return calls


def load_catalog(sample_dir: Path) -> list[dict]:
    return [l for l in read_jsonl(sample_dir / "catalog.jsonl") if l["active"]]


@dataclass(frozen=True)
class MatchExample:
    text: str
    task: str
    label_id: str


def match_examples(calls: list[Call], template: Template) -> list[MatchExample]:
    """Task data (method Y1): context template + dialogue + business prompt, with the true label."""
    return [MatchExample(render(c.turns, c.account, task, template), task, c.labels[task]) for c in calls for task in c.labels]


def split(items: list, valid_share: float, seed: int) -> tuple[list, list]:
    items = list(items)
    random.Random(seed).shuffle(items)
    n_valid = max(1, int(len(items) * valid_share))
    return items[n_valid:], items[:n_valid]


def build_vocab(texts: list[str], path: Path) -> Path:
    """A character vocabulary in bert-base-chinese's format, for when that vocabulary is not at hand."""
    chars = sorted({ch for text in texts for ch in text if not ch.isspace()})
    tokens = SPECIAL_TOKENS + chars + [f"##{ch}" for ch in chars if not ("\u4e00" <= ch <= "\u9fff")]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path


def catalog_texts(catalog: list[dict]) -> list[str]:
    return [render_label(l) for l in catalog]
