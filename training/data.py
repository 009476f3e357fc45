"""Training examples from the project's event files, rendered by the serving renderer (streams.core.render)."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from streams.core.render import Template, render

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


def sample_utterances(sample_dir: Path) -> list[str]:
    return [e["text"] for e in read_jsonl(sample_dir / "transcript.jsonl") if e["type"] == "segment"]


def load_catalog(sample_dir: Path) -> list[dict]:
    return [l for l in read_jsonl(sample_dir / "catalog.jsonl") if l["active"]]


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


# --- The public customer-service data (../shared/data), in one shape for every stage and for `callqa eval` ---

@dataclass(frozen=True)
class Dialogue:
    id: str
    turns: list[dict]  # [{"speaker": "customer" | "agent", "text": ...}]
    labels: tuple[str, ...] = ()  # human labels (CSDS topics, product categories); empty when unlabelled
    summary: str = ""  # human summary, where there is one
    topic_summaries: tuple[tuple[str, str], ...] = ()  # (label, the human summary of that topic's part), CSDS only


CSDS_SPEAKERS = {"user": "customer", "agent": "agent"}
STC3_SPEAKERS = {"customer": "customer", "helpdesk": "agent"}


def read_csds(path: Path) -> list[Dialogue]:
    """CSDS-format dialogues: `turns[{speaker: user|agent, text}]`, `labels[]`, `summary`, `topic_summaries[{topic, summary}]`."""
    return [Dialogue(r["id"], [{"speaker": CSDS_SPEAKERS.get(t["speaker"], t["speaker"]), "text": t["text"]} for t in r["turns"]],
                     tuple(r.get("labels", ())), r.get("summary", ""),
                     tuple((s["topic"], s["summary"]) for s in r.get("topic_summaries", ()) if s.get("topic") and s.get("summary")))
            for r in read_jsonl(path)]


def read_products(path: Path) -> list[Dialogue]:
    """Product-labelled texts (`text`, `product_category`): one customer turn each."""
    return [Dialogue(r["id"], [{"speaker": "customer", "text": r["text"].lstrip("\ufeff")}], (r["product_category"],))
            for r in read_jsonl(path)]


def read_stc3(path: Path) -> list[Dialogue]:
    """STC-3 helpdesk dialogues (no topic labels): the unlabelled calls of domain transfer."""
    with open(path, encoding="utf-8") as f:
        records = json.load(f)
    return [Dialogue(str(r["id"]), [{"speaker": STC3_SPEAKERS.get(t["sender"], t["sender"]), "text": "".join(t["utterances"])}
                                    for t in r["turns"]]) for r in records]


def read_dialogues(path: Path) -> list[Dialogue]:
    """Any of the formats above, told apart by their fields."""
    path = Path(path)
    if path.suffix == ".json":
        return read_stc3(path)
    with open(path, encoding="utf-8") as f:
        first = json.loads(f.readline())
    return read_csds(path) if "turns" in first else read_products(path)


def account_for(dialogue_id: str) -> dict:
    """The public data has no account fields: each dialogue gets a generated one, the same on every run."""
    from streams.core.accounts import random_account  # stdlib-only generator shared with the sample data

    return random_account(random.Random(dialogue_id), f"u-{dialogue_id}", 0)


def render_dialogue_task(dialogue: Dialogue, task: str, template: Template) -> str:
    return render(dialogue.turns, account_for(dialogue.id), task, template)


def split_csds(dialogues: list[Dialogue], seed: int = 0, unseen_share: float = 0.1, valid_share: float = 0.1,
               test_share: float = 0.2) -> dict[str, list[Dialogue]]:
    """Fixed splits for training and `callqa eval`: a share of the labels is held out entirely (every dialogue carrying
    one goes to `unseen`, the zero-shot test); the rest is split into train / valid / test."""
    labels = sorted({l for d in dialogues for l in d.labels})
    unseen_labels = set(random.Random(seed).sample(labels, int(len(labels) * unseen_share)))
    unseen = [d for d in dialogues if set(d.labels) & unseen_labels]
    seen = [d for d in dialogues if not set(d.labels) & unseen_labels]
    random.Random(seed).shuffle(seen)
    n_valid, n_test = int(len(seen) * valid_share), int(len(seen) * test_share)
    return {"train": seen[n_valid + n_test:], "valid": seen[:n_valid], "test": seen[n_valid:n_valid + n_test],
            "unseen": unseen, "unseen_labels": sorted(unseen_labels)}


def split_products(dialogues: list[Dialogue], seed: int = 0, valid: int = 1000, test_share: float = 0.1) -> dict[str, list[Dialogue]]:
    items = list(dialogues)
    random.Random(seed).shuffle(items)
    n_test = int(len(items) * test_share)
    return {"test": items[:n_test], "valid": items[n_test:n_test + valid], "train": items[n_test + valid:]}
