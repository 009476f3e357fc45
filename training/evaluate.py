"""`callqa eval`: one harness scores the method's model and the baselines on the public data's fixed splits, so every
figure in the README comes from the same splits, candidate sets and metric definitions."""
from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
from rapidfuzz.distance import LCSseq
from rich.console import Console
from rich.table import Table

from streams.core.render import DEFAULT_TEMPLATE, render_context, render_dialogue, render_label
from streams.core.summarise import split_sentences, summarise
from training.data import Dialogue, account_for, read_dialogues, read_jsonl, render_dialogue_task, split_csds, split_products

log = logging.getLogger(__name__)

TASKS = {"csds": "topic", "products": "product"}
METRICS = ("top1", "top3", "macro_f1")
# The summariser sees the whole dialogue here: the serving budget (300 characters) is reported separately as "pipeline".
UNCUT = replace(DEFAULT_TEMPLATE, max_dialogue_chars=10**9)


class Scorer(Protocol):
    name: str

    def scores(self, dialogues: list[Dialogue], task: str, label_names: list[str]) -> np.ndarray:
        """n_dialogues x n_labels, higher = more likely; each column depends only on its own label."""


def dialogue_text(dialogue: Dialogue) -> str:
    """What the baselines read: the turns' words, without the model's template."""
    return " ".join(t["text"] for t in dialogue.turns)


class ModelScorer:
    """The method's model: cosine between the rendered call (template + business prompt) and each label's vector."""

    def __init__(self, model_dir: str | Path, batch_size: int = 64, console: Console | None = None) -> None:
        import torch

        from training.model import load

        torch.set_num_threads(2)  # the machine is shared with training
        self.model = load(model_dir)
        template = self.model.template
        if set(DEFAULT_TEMPLATE.prompts) - set(template.prompts):
            # Older models were saved before a task (e.g. the CSDS topic) had a prompt: borrow today's.
            log.warning("model template %s lacks prompts %s; using the default ones", template.version,
                        sorted(set(DEFAULT_TEMPLATE.prompts) - set(template.prompts)))
            template = replace(template, prompts={**DEFAULT_TEMPLATE.prompts, **template.prompts})
        self.template = template
        self.batch_size = batch_size
        self.label_vectors: dict[tuple[str, ...], np.ndarray] = {}
        self.console = console or Console(stderr=True)
        self.name = f"model:{model_dir}"  # the ablation models share the folder name `default`
        self.info = {"model_dir": str(model_dir), "template_version": template.version,
                     "created": self.model.info.get("created")}

    def encode(self, texts: list[str], what: str) -> np.ndarray:
        """Batches of similar length (less padding); a bar for terminals and a log line every 10 batches for the rest."""
        import torch
        from rich.progress import Progress

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: np.ndarray | None = None
        n_batches = -(-len(texts) // self.batch_size)
        with torch.no_grad(), Progress(console=self.console, transient=True, disable=not self.console.is_terminal) as progress:
            bar = progress.add_task(f"encoding {what}", total=len(texts))
            for b, start in enumerate(range(0, len(texts), self.batch_size)):
                idx = order[start:start + self.batch_size]
                batch = self.model.encode([texts[i] for i in idx]).float().cpu().numpy()
                if vectors is None:
                    vectors = np.empty((len(texts), batch.shape[1]), dtype=np.float32)
                vectors[idx] = batch
                progress.advance(bar, len(idx))
                if (b + 1) % 10 == 0 or b + 1 == n_batches:
                    log.info("encoded %s: batch %d/%d", what, b + 1, n_batches)
        return vectors if vectors is not None else np.zeros((0, 1), dtype=np.float32)

    def scores(self, dialogues: list[Dialogue], task: str, label_names: list[str]) -> np.ndarray:
        key = tuple(label_names)
        if key not in self.label_vectors:  # the same catalog is scored for every set
            self.label_vectors[key] = self.encode([render_label({"name": name}) for name in label_names], "labels")
        labels = self.label_vectors[key]
        calls = self.encode([render_dialogue_task(d, task, self.template) for d in dialogues], "calls")
        return calls @ labels.T


def fit_logreg(x, y: list[str], seed: int = 0, cs: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0)):
    """One-vs-rest logistic regression with balanced class weights, C chosen by 3-fold cross-validation (accuracy)
    on the training rows alone: a tuned baseline, not a flattering one."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.multiclass import OneVsRestClassifier

    search = GridSearchCV(OneVsRestClassifier(LogisticRegression(class_weight="balanced", max_iter=2000)),
                          {"estimator__C": list(cs)}, cv=KFold(3, shuffle=True, random_state=seed), scoring="accuracy",
                          n_jobs=1).fit(x, y)
    log.info("logistic regression: C=%s (cross-validated accuracy %.3f)", search.best_params_["estimator__C"], search.best_score_)
    return search.best_estimator_, search.best_params_["estimator__C"]


class LinearProbeScorer:
    """A linear classifier over features of the dialogue's words; it cannot predict a label it never saw (score
    -inf): that is what the zero-shot comparison shows. `features(texts, fit)` gives the rows."""

    name = "baseline:linear"

    def __init__(self, train: list[Dialogue]) -> None:
        rows = [(dialogue_text(d), label) for d in train for label in d.labels]  # one row per gold label
        if len({label for _, label in rows}) < 2:
            raise ValueError(f"{self.name} needs training data with at least two labels")
        x = self.features([text for text, _ in rows], fit=True)
        self.classifier, c = fit_logreg(x, [label for _, label in rows])
        self.known = {label: k for k, label in enumerate(self.classifier.classes_)}
        self.info = {"rows": len(rows), "features": x.shape[1], "labels": len(self.known), "C": c}
        log.info("%s: %s", self.name, self.info)

    def features(self, texts: list[str], fit: bool = False):
        raise NotImplementedError

    def scores(self, dialogues: list[Dialogue], task: str, label_names: list[str]) -> np.ndarray:
        """-inf for unknown labels; all zeros when no candidate is known (a tie, which ranking breaks by label order)."""
        columns = [(j, self.known[name]) for j, name in enumerate(label_names) if name in self.known]
        if not columns or not dialogues:
            return np.zeros((len(dialogues), len(label_names)))
        proba = self.classifier.predict_proba(self.features([dialogue_text(d) for d in dialogues]))
        out = np.full((len(dialogues), len(label_names)), -np.inf)
        for j, k in columns:
            out[:, j] = proba[:, k]
        return out


class TfidfLogRegScorer(LinearProbeScorer):
    """Supervised baseline: char 1-3-gram TF-IDF + tuned logistic regression."""

    name = "baseline:tfidf-lr"

    def features(self, texts: list[str], fit: bool = False):
        from sklearn.feature_extraction.text import TfidfVectorizer

        if fit:
            self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
            return self.vectorizer.fit_transform(texts)
        return self.vectorizer.transform(texts)


class FrozenLogRegScorer(LinearProbeScorer):
    """The pretrained encoder as it came (bge-small-zh-v1.5, never fine-tuned): mean-pooled states of the dialogue's
    words + the same tuned logistic regression. What the method's fine-tuning has to add to."""

    name = "baseline:frozen-lr"

    def __init__(self, train: list[Dialogue], cache: Path = Path(".callqa/pretrained"), max_train: int = 6000) -> None:
        import torch
        from transformers import AutoTokenizer, BertModel

        from training.pretrained import bge_checkpoint

        checkpoint, self.provenance = bge_checkpoint(cache)
        torch.set_num_threads(2)
        self.encoder = BertModel.from_pretrained(checkpoint, add_pooling_layer=False, local_files_only=True).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True)
        if len(train) > max_train:  # the product texts: encoding all 48,000 would take an hour on 2 cores
            train = [train[i] for i in np.random.default_rng(0).choice(len(train), max_train, replace=False)]
        super().__init__(train)

    def features(self, texts: list[str], fit: bool = False) -> np.ndarray:
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.encoder.config.hidden_size), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(texts), 32):
                idx = order[start:start + 32]
                batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=512, return_tensors="pt")
                states = self.encoder(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).float()
                out[idx] = torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1).numpy()
        return out


class PriorScorer:
    """The floor every scorer must clear: each label scored by how often it is a gold label in the training split,
    whatever the dialogue says (labels never seen in training tie at 0)."""

    name = "baseline:prior"

    def __init__(self, train: list[Dialogue]) -> None:
        self.counts = Counter(label for d in train for label in d.labels)

    def scores(self, dialogues: list[Dialogue], task: str, label_names: list[str]) -> np.ndarray:
        return np.tile(np.array([self.counts.get(name, 0) for name in label_names], dtype=float), (len(dialogues), 1))


def longest_common_substring(name: str, text: str) -> int:
    """Length of the longest piece of `name` found in `text` (binary search: a common piece of length L has ones
    of every shorter length)."""
    lo, hi = 0, len(name)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if any(name[i:i + mid] in text for i in range(len(name) - mid + 1)):
            lo = mid
        else:
            hi = mid - 1
    return lo


class LexicalScorer:
    """No-training baseline: the share of the label name found verbatim in the dialogue, plus a small bonus per
    mention of the whole name (up to 5), plus a hair for longer matches so equal shares prefer the longer name."""

    name = "baseline:lexical"

    def scores(self, dialogues: list[Dialogue], task: str, label_names: list[str]) -> np.ndarray:
        out = np.zeros((len(dialogues), len(label_names)))
        for i, d in enumerate(dialogues):
            text = dialogue_text(d)
            for j, name in enumerate(label_names):
                length = longest_common_substring(name, text)
                out[i, j] = length / len(name) + 0.01 * min(text.count(name), 5) + 0.001 * length if name else 0.0
        return out


def attribution_metrics(scores: np.ndarray, gold: list[tuple[str, ...]], label_names: list[str], k: int = 3) -> dict:
    """top-1 / top-k: correct when a gold label is among the first k. Ties rank by label order (stable sort).
    macro-F1 (sklearn, over the labels in gold or predicted): the top-1 prediction against the gold label it hit,
    else against the dialogue's first gold label."""
    from sklearn.metrics import f1_score

    if not gold:
        return {"n": 0, "candidates": len(label_names)}
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    y_true, y_pred, top1_hits, topk_hits = [], [], [], []
    for row, labels in zip(order, gold):
        ranked = [label_names[j] for j in row]
        top1_hits.append(ranked[0] in labels)
        topk_hits.append(any(label in labels for label in ranked))
        y_pred.append(ranked[0])
        y_true.append(ranked[0] if ranked[0] in labels else labels[0])
    n = len(gold)
    return {"n": n, "candidates": len(label_names), "top1": sum(top1_hits) / n, f"top{k}": sum(topk_hits) / n,
            "top1_ci95": bootstrap_ci(top1_hits), f"top{k}_ci95": bootstrap_ci(topk_hits),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
            "gold_outside_candidates": sum(not set(g) & set(label_names) for g in gold)}


def bootstrap_ci(hits: list[bool], resamples: int = 2000, seed: int = 0) -> list[float]:
    """95 % percentile bootstrap interval of a mean of per-dialogue hits (the test splits are small)."""
    values = np.asarray(hits, dtype=float)
    means = np.random.default_rng(seed).choice(values, (resamples, len(values)), replace=True).mean(1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def rouge_l(candidate: str, reference: str) -> float:
    """Character ROUGE-L F1."""
    lcs = LCSseq.similarity(candidate, reference)
    if not lcs:
        return 0.0
    precision, recall = lcs / len(candidate), lcs / len(reference)
    return 2 * precision * recall / (precision + recall)


def summary_metrics(dialogues: list[Dialogue], counts: tuple[int, ...] = (1, 2, 3)) -> dict:
    """Mean ROUGE-L F1 against the human summaries of the LCS summary of: the whole dialogue ("dialogue"), the context
    text with the account sentence ("context"), and exactly what the pipeline summarises, cut to the serving budget
    ("pipeline"); and of the first k sentences of the dialogue ("lead"), the baseline to beat."""
    texts: dict[str, Callable[[Dialogue], str]] = {
        "lcs_dialogue": lambda d: render_dialogue(d.turns, UNCUT),
        "lcs_context": lambda d: render_context(d.turns, account_for(d.id), UNCUT),
        "lcs_pipeline": lambda d: render_context(d.turns, account_for(d.id), DEFAULT_TEMPLATE),
    }
    dialogues = [d for d in dialogues if d.summary]
    result: dict[str, dict[str, float]] = {}
    for variant, render in texts.items():
        rendered = [render(d) for d in dialogues]
        result[variant] = {str(k): float(np.mean([rouge_l("".join(summarise(t, k)), d.summary)
                                                  for t, d in zip(rendered, dialogues)])) for k in counts}
    lead = [split_sentences(render_dialogue(d.turns, UNCUT)) for d in dialogues]
    result["lead_dialogue"] = {str(k): float(np.mean([rouge_l("".join(s[:k]), d.summary) for s, d in zip(lead, dialogues)]))
                               for k in counts}
    return {"n": len(dialogues), "rouge_l_f1": result}


def file_format(path: Path) -> str:
    """Same rule as training.data.read_dialogues: .json is STC-3, a record with turns is CSDS, else product texts."""
    path = Path(path)
    if path.suffix == ".json":
        return "stc3"
    with open(path, encoding="utf-8") as f:
        return "csds" if "turns" in json.loads(f.readline()) else "products"


def load_label_names(path: Path, task: str | None = None) -> list[str]:
    """A label catalog: JSONL label events (active ones; only `task`'s when the catalog mixes tasks) or one name a line."""
    path = Path(path)
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines or not lines[0].startswith("{"):
        return list(dict.fromkeys(lines))
    active = [label for label in read_jsonl(path) if label.get("active", True)]
    if len({label.get("task") for label in active}) > 1:
        active = [label for label in active if label.get("task") == task]
    return list(dict.fromkeys(label["name"] for label in active))


def make_scorer(spec: str | Scorer, train: Callable[[], list[Dialogue]], console: Console | None = None) -> Scorer:
    """A model folder, "baseline:tfidf-lr", "baseline:lexical" or "baseline:prior" (or a ready Scorer); training data
    only when needed."""
    if not isinstance(spec, str):
        return spec
    if spec == "baseline:tfidf-lr":
        return TfidfLogRegScorer(train())
    if spec == "baseline:frozen-lr":
        return FrozenLogRegScorer(train())
    if spec == "baseline:lexical":
        return LexicalScorer()
    if spec == "baseline:prior":
        return PriorScorer(train())
    if spec.startswith("baseline:"):
        raise ValueError(f"unknown baseline {spec!r}: baseline:tfidf-lr, baseline:frozen-lr, baseline:lexical or baseline:prior")
    return ModelScorer(spec, console=console)


def _splits(fmt: str, dialogues: list[Dialogue], split: str, seed: int, train_file: Path | None) -> tuple[dict, list[Dialogue], set[str]]:
    """(scored dialogue sets, the baselines' training dialogues, the labels seen in training)."""
    if split not in ("test", "valid", "all"):
        raise ValueError(f"split must be test, valid or all, not {split!r}")
    cut = split_csds if fmt == "csds" else split_products
    if split != "all":
        parts = cut(dialogues, seed)
        if fmt != "csds":
            return {split: parts[split]}, parts["train"], {l for d in parts["train"] for l in d.labels}
        seen = {l for d in dialogues for l in d.labels} - set(parts["unseen_labels"])
        return {split: parts[split], "unseen": parts["unseen"]}, parts["train"], seen
    if train_file is None:
        log.warning("split=all without train_file: the baseline trains on this file's own train split")
    train = cut(read_dialogues(train_file) if train_file else dialogues, seed)["train"]
    seen = {l for d in train for l in d.labels}
    if fmt != "csds":
        return {"all": dialogues}, train, seen
    return ({"all": dialogues, "seen": [d for d in dialogues if set(d.labels) <= seen],
             "unseen": [d for d in dialogues if set(d.labels) - seen]}, train, seen)


def evaluate_file(path: Path, scorer_spec: str | Scorer, out: Path | None = None, labels_file: Path | None = None,
                  split: str = "test", seed: int = 0, limit: int | None = None, train_file: Path | None = None,
                  summary_sentences: tuple[int, ...] = (1, 2, 3), console: Console | None = None) -> dict:
    """Score one scorer on one file's fixed split; print the tables, return (and write to `out`) the JSON dict.

    CSDS files: the scored split with the full catalog as candidates; "unseen" (dialogues carrying a label held out
    of training) with only the unseen labels as candidates and gold cut to them, and "unseen_gzsl" with every label
    as candidate, gold still the unseen labels. split="all" scores every dialogue (an external file), with "seen" and
    "unseen" relative to the labels of `train_file`'s train split. Product files: accuracy and macro-F1."""
    started = time.perf_counter()
    path, console = Path(path), console or Console()
    fmt = file_format(path)
    if fmt not in TASKS:
        raise ValueError(f"{path} has no labels to attribute ({fmt})")
    task = TASKS[fmt]
    dialogues = [d for d in read_dialogues(path) if d.labels]
    catalog = load_label_names(labels_file, task) if labels_file else sorted({l for d in dialogues for l in d.labels})
    sets, train, seen = _splits(fmt, dialogues, split, seed, train_file)
    sets = {name: items[:limit] for name, items in sets.items()}
    log.info("%s (%s): %d dialogues, %d candidate labels, sets %s", path.name, fmt, len(dialogues), len(catalog),
             {name: len(items) for name, items in sets.items()})
    timings = {}
    tick = time.perf_counter()
    scorer = make_scorer(scorer_spec, lambda: train, console)
    timings["setup"] = time.perf_counter() - tick

    tick = time.perf_counter()
    metrics = {}
    for name, items in sets.items():
        if not items:
            log.warning("set %s is empty, skipped", name)
            continue
        scores = scorer.scores(items, task, catalog)  # once per set; columns are picked per candidate set below
        gold = [d.labels for d in items]
        if name != "unseen":
            metrics[name] = attribution_metrics(scores, gold, catalog)
            continue
        unseen_cols = [j for j, label in enumerate(catalog) if label not in seen]
        unseen_gold = [tuple(l for l in d.labels if l not in seen) for d in items]
        if unseen_cols:
            metrics["unseen"] = attribution_metrics(scores[:, unseen_cols], unseen_gold, [catalog[j] for j in unseen_cols])
        metrics["unseen_gzsl"] = attribution_metrics(scores, unseen_gold, catalog)
    if fmt == "products":
        for m in metrics.values():
            m["accuracy"] = m.get("top1", 0.0)
    timings["score"] = time.perf_counter() - tick

    summaries = None
    if fmt == "csds" and summary_sentences:
        tick = time.perf_counter()
        summaries = summary_metrics(dialogues[:limit], tuple(summary_sentences))
        timings["summaries"] = time.perf_counter() - tick
    result = {"file": str(path), "format": fmt, "task": task, "scorer": scorer.name,
              "scorer_info": getattr(scorer, "info", None), "split": split, "seed": seed,
              "limit": limit, "labels": len(catalog), "label_source": str(labels_file) if labels_file else "file",
              "split_sizes": {"train": len(train), **{name: len(items) for name, items in sets.items()}},
              "metrics": metrics, "summaries": summaries, "timings": timings,
              "seconds": time.perf_counter() - started}
    print_result(result, console)
    if out:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        log.info("wrote %s", out)
    return result


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def print_result(result: dict, console: Console) -> None:
    table = Table(title=f"{result['scorer']} on {Path(result['file']).name} ({result['format']}, split {result['split']})")
    first = "accuracy" if result["format"] == "products" else "top-1"
    for column in ("set", "n", "candidates", first, "top-3", "macro-F1"):
        table.add_column(column, justify="left" if column == "set" else "right")
    for name, m in result["metrics"].items():
        table.add_row(name, str(m["n"]), str(m["candidates"]), _pct(m.get("top1")), _pct(m.get("top3")), _pct(m.get("macro_f1")))
    console.print(table)
    if result.get("summaries"):
        scores = result["summaries"]["rouge_l_f1"]
        table = Table(title=f"summaries: character ROUGE-L F1 vs. human ({result['summaries']['n']} dialogues)")
        table.add_column("summary")
        counts = list(next(iter(scores.values())))
        for k in counts:
            table.add_column(f"k={k}", justify="right")
        for variant, by_k in scores.items():
            table.add_row(variant, *(_pct(by_k[k]) for k in counts))
        console.print(table)
    console.print(f"{result['seconds']:.1f} s")


def _with_ci(metrics: dict, metric: str) -> str:
    """"25.8 (18.2–33.3)": the figure and its 95 % bootstrap interval, where there is one."""
    ci = metrics.get(f"{metric}_ci95")
    return _pct(metrics.get(metric)) + (f" ({_pct(ci[0])}–{_pct(ci[1])})" if ci else "")


def compare(rows: list[dict]) -> str:
    """Markdown for the README: one row per evaluate_file result, one column per (set, metric) that any row has (for
    product files top-1 is the accuracy); the summary figures do not depend on the scorer, so they follow once per file."""
    columns = list(dict.fromkeys((name, metric) for r in rows for name, m in r["metrics"].items()
                                 for metric in METRICS if metric in m))
    label = {"top1": "top-1", "top3": "top-3", "macro_f1": "macro-F1"}
    lines = ["| file | scorer | " + " | ".join(f"{name} {label[metric]}" for name, metric in columns) + " |",
             "|---|---|" + "---:|" * len(columns)]
    for r in rows:
        cells = [_with_ci(r["metrics"].get(name, {}), metric) for name, metric in columns]
        lines.append(f"| {Path(r['file']).name} | {r['scorer']} | " + " | ".join(cells) + " |")
    done = set()
    for r in rows:
        if not r.get("summaries") or r["file"] in done:
            continue
        done.add(r["file"])
        scores = r["summaries"]["rouge_l_f1"]
        counts = list(next(iter(scores.values())))
        lines += ["", f"Summaries of {Path(r['file']).name} ({r['summaries']['n']} dialogues), character ROUGE-L F1:", "",
                  "| summary | " + " | ".join(f"k={k}" for k in counts) + " |", "|---|" + "---:|" * len(counts)]
        lines += [f"| {variant} | " + " | ".join(_pct(by_k[k]) for k in counts) + " |" for variant, by_k in scores.items()]
    return "\n".join(lines) + "\n"
