"""Stage 4, downstream fine-tune, matching (method Y1-Y4): task data (context template + dialogue + business prompt)
is encoded to the generated-information vector and matched by cosine to the candidate label vectors; the loss is
cross-entropy over the scaled cosines against the true label(s). Label sets: the telecom sample's product and
complaint catalog, the CSDS topics, the product categories. The best checkpoint on the validation splits is kept."""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from streams.core.records import TASKS
from streams.core.render import render_label
from training.config import TrainConfig
from training.data import (SHARED_DATA, load_calls, load_catalog, read_csds, read_products, render_dialogue_task,
                           split, split_csds, split_products)
from training.loop import descend, optimizer_for, run, write_report
from training.model import CallqaModel, load

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneConfig(TrainConfig):
    init_dir: str = ".callqa/models/transferred"
    out_dir: str = ".callqa/models/default"
    sample_dir: str = ".callqa/sample/train"  # empty: no telecom sample
    csds: str = str(SHARED_DATA / "csds_topic_train.jsonl")  # empty or missing: not used
    products: str = str(SHARED_DATA / "online_shopping_train.jsonl")
    source_weights: tuple = (0.15, 0.45, 0.4)  # sample, csds, products: the share of each batch (products are short)
    max_products: int = 20000
    topic_summaries: bool = True  # CSDS: each topic's human summary is one more example of that topic (train split only)
    steps: int = 450
    batch_size: int = 16
    lr: float = 3e-5  # the pretrained base
    head_lr: float = 1e-3  # the projection layers, new in stage 1
    scale: float = 20.0
    pool_from: str = ""  # empty: as the model was set up; "encoder": the plain bi-encoder the method is compared with
    valid_share: float = 0.15  # of the sample; CSDS and products have fixed splits
    valid_per_source: int = 150
    eval_every: int = 75
    patience: int = 3  # evaluations without gain before stopping (converged)


@dataclass(frozen=True)
class Example:
    text: str
    labelset: str  # which candidate list it is matched against
    labels: tuple[str, ...]  # true label ids (CSDS dialogues have several)


def sources(config: FinetuneConfig, model: CallqaModel) -> tuple[dict, dict, dict]:
    """Train and valid examples per source, and each label set's (ids, texts)."""
    template = model.template
    train: dict[str, list[Example]] = {}
    valid: dict[str, list[Example]] = {}
    labelsets: dict[str, tuple[list[str], list[str]]] = {}
    if config.sample_dir and (Path(config.sample_dir) / "truth.jsonl").exists():
        from streams.core.render import render

        catalog = load_catalog(Path(config.sample_dir))
        for task in TASKS:
            labels = sorted((l for l in catalog if l["task"] == task), key=lambda l: l["label_id"])
            labelsets[f"sample.{task}"] = ([l["label_id"] for l in labels], [render_label(l) for l in labels])
        calls_train, calls_valid = split(load_calls(Path(config.sample_dir)), config.valid_share, config.seed)
        for name, calls in (("train", calls_train), ("valid", calls_valid)):
            (train if name == "train" else valid)["sample"] = [
                Example(render(c.turns, c.account, task, template), f"sample.{task}", (c.labels[task],)) for c in calls for task in c.labels]
    if config.csds and Path(config.csds).exists():
        splits = split_csds(read_csds(Path(config.csds)))
        seen = sorted({l for d in splits["train"] for l in d.labels})
        labelsets["csds.topic"] = (seen, [render_label({"name": l}) for l in seen])
        for name in ("train", "valid"):
            (train if name == "train" else valid)["csds"] = [Example(render_dialogue_task(d, "topic", template), "csds.topic", d.labels)
                                                             for d in splits[name]]
        if config.topic_summaries:
            train["csds"] += [Example(render_dialogue_task(replace(d, turns=[{"speaker": "customer", "text": summary}]), "topic", template),
                                      "csds.topic", (topic,)) for d in splits["train"] for topic, summary in d.topic_summaries]
    if config.products and Path(config.products).exists():
        splits = split_products(read_products(Path(config.products)))
        categories = sorted({d.labels[0] for d in splits["train"]})
        labelsets["products.product"] = (categories, [render_label({"name": c}) for c in categories])
        for name, limit in (("train", config.max_products), ("valid", config.valid_per_source)):
            (train if name == "train" else valid)["products"] = [
                Example(render_dialogue_task(d, "product", template), "products.product", d.labels) for d in splits[name][:limit]]
    valid = {source: examples[: config.valid_per_source] for source, examples in valid.items()}
    return train, valid, labelsets


def match_loss(model: CallqaModel, batch: list[Example], labelsets: dict, scale: float) -> torch.Tensor:
    """Cross-entropy over scaled cosines; with several true labels, the probability of any of them."""
    loss = torch.zeros(())
    for name in sorted({e.labelset for e in batch}):
        chunk = [e for e in batch if e.labelset == name]
        ids, texts = labelsets[name]
        logits = scale * model.encode([e.text for e in chunk]) @ model.encode(texts).T
        gold = torch.zeros_like(logits, dtype=torch.bool)
        for row, e in enumerate(chunk):
            for label in e.labels:
                gold[row, ids.index(label)] = True
        loss = loss + (torch.logsumexp(logits, -1) - torch.logsumexp(logits.masked_fill(~gold, float("-inf")), -1)).sum()
    return loss / len(batch)


@torch.no_grad()
def evaluate(model: CallqaModel, valid: dict[str, list[Example]], labelsets: dict, batch_size: int = 16) -> dict[str, float]:
    """Top-1 per source (correct when the best label is one of the true ones) against the whole label set."""
    model.eval()
    vectors = {name: model.encode(texts) for name, (_, texts) in labelsets.items()}
    scores = {}
    for source, examples in valid.items():
        correct = 0
        for i in range(0, len(examples), batch_size):
            chunk = examples[i:i + batch_size]
            encoded = model.encode([e.text for e in chunk])
            for e, vector in zip(chunk, encoded):
                ids = labelsets[e.labelset][0]
                correct += ids[int((vectors[e.labelset] @ vector).argmax())] in e.labels
        scores[source] = correct / max(1, len(examples))
    return scores


def train(config: FinetuneConfig) -> dict:
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = random.Random(config.seed)
    out_dir = Path(config.out_dir)
    model = load(config.init_dir)
    if config.pool_from:
        model.base.pool_from = config.pool_from
    train_sets, valid, labelsets = sources(config, model)
    names = [n for n in ("sample", "csds", "products") if train_sets.get(n)]
    if not names:
        raise ValueError("fine-tune needs labelled data: sample_dir, csds or products")
    weights = [config.source_weights[("sample", "csds", "products").index(n)] for n in names]
    log.info("fine-tune examples: %s train, %s valid", {n: len(train_sets[n]) for n in names}, {n: len(v) for n, v in valid.items()})
    optimizer, schedule = optimizer_for(model, config, head=model[2])  # model[2]: the projection
    last_scores: dict[str, float] = {}

    def step_fn(step: int) -> dict:
        batch = [rng.choice(train_sets[rng.choices(names, weights)[0]]) for _ in range(config.batch_size)]
        return {"loss": descend(match_loss(model, batch, labelsets, config.scale), model, optimizer, schedule)}

    def eval_fn() -> float:
        last_scores.clear()
        last_scores.update(evaluate(model, valid, labelsets))
        log.info("valid top-1: %s", {k: round(v, 4) for k, v in last_scores.items()})
        return sum(last_scores.values()) / len(last_scores)  # macro over sources

    model.info["stages"] = [*model.info.get("stages", []), "finetune"]
    model.info["labelsets"] = {name: len(ids) for name, (ids, _) in labelsets.items()}
    report = run("finetune", config, model, optimizer, schedule, out_dir.with_name(out_dir.name + ".work"), step_fn, eval_fn,
                 lambda: model.save(out_dir))
    report |= {"valid_top1_last": last_scores, "train_examples": {n: len(train_sets[n]) for n in names},
               "parameters": sum(p.numel() for p in model.parameters())}
    write_report(out_dir / "train_report.json", report)
    return report
