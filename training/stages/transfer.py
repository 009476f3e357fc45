"""Stage 3, weakly-supervised domain transfer (method X1-X3). Fine data: a labelled dialogue with its context ->
its human label text and summary. Pseudo data: an unlabelled dialogue with its context -> its LCS summary (X21-X25),
from files or from the pipeline's pseudo-label topic. Each step takes the gradient of a fine batch and of a pseudo
batch; when they point the same way (cosine > 0) both are applied, otherwise the pseudo gradient is dropped (X3)."""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from streams.core.redact import redact
from streams.core.render import render_context
from streams.core.summarise import summarise
from training.config import TrainConfig
from training.data import SHARED_DATA, account_for, read_csds, read_jsonl, read_stc3, split_csds
from training.loop import descend, optimizer_for, run, write_report
from training.model import load
from training.stages.pretrain import seq2seq_loss

log = logging.getLogger(__name__)
MODES = ("agree", "mix", "clean")  # gradient agreement (the method), naive clean+pseudo mix, clean only


@dataclass(frozen=True)
class TransferConfig(TrainConfig):
    init_dir: str = ".callqa/models/pretrained"
    out_dir: str = ".callqa/models/transferred"
    mode: str = "agree"
    csds: str = str(SHARED_DATA / "csds_topic_train.jsonl")  # fine data: its train split only
    unlabelled: str = str(SHARED_DATA / "stc3_helpdesk_train_cn.json")  # pseudo data
    sample_dir: str = ".callqa/sample/train"  # the project's telecom sample: labelled calls fine, the rest pseudo
    pseudo_file: str = ""  # pseudo-label records (callqa.pseudo_label.v1) dumped from the topic by `callqa retrain`
    fine_file: str = ""  # {context_text, target} of calls a human labelled after their pseudo-label (`callqa retrain`)
    max_pseudo: int = 4000
    summary_sentences: int = 2
    max_target_tokens: int = 48
    agreement_on: str = "transformer"  # the gradients compared in X3: all parameters, or all but the embedding tables
    steps: int = 60  # about 9 s a step on 2 cores (two forward and backward passes of 6 long texts each)
    batch_size: int = 6
    lr: float = 5e-5
    eval_every: int = 30
    patience: int = 100


def fine_target(labels: list[str], summary: str) -> str:
    return "、".join(labels) + ("：" + summary if summary else "")


def fine_examples(config: TransferConfig, template) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(context text, label text + summary) for training and for validation."""
    train, valid = [], []
    if config.csds and Path(config.csds).exists():
        splits = split_csds(read_csds(Path(config.csds)))
        for name, out in (("train", train), ("valid", valid)):
            out += [(render_context(d.turns, account_for(d.id), template), fine_target(list(d.labels), d.summary)) for d in splits[name]]
    sample = Path(config.sample_dir)
    if (sample / "human_labels.jsonl").exists():
        from training.data import load_calls, load_catalog

        names = {l["label_id"]: l["name"] for l in load_catalog(sample)}
        human = {h["call_id"] for h in read_jsonl(sample / "human_labels.jsonl")}
        calls = [c for c in load_calls(sample) if c.call_id in human]
        pairs = [(render_context(c.turns, c.account, template), fine_target([names[c.labels["product"]], names[c.labels["complaint"]]], ""))
                 for c in calls]
        cut = max(1, len(pairs) // 10)
        train += pairs[cut:]
        valid += pairs[:cut]
    if config.fine_file and Path(config.fine_file).exists():
        train += [(r["context_text"], r["target"]) for r in read_jsonl(Path(config.fine_file))]
    return [(redact(s), redact(t)) for s, t in train], [(redact(s), redact(t)) for s, t in valid]


def pseudo_examples(config: TransferConfig, template, rng: random.Random) -> list[tuple[str, str]]:
    """(context text, LCS summary) of unlabelled dialogues: the file, the sample's unlabelled calls, the topic dump."""
    dialogues: list[tuple[dict | None, list[dict]]] = []
    if config.unlabelled and Path(config.unlabelled).exists():
        dialogues += [(account_for(d.id), d.turns) for d in read_stc3(Path(config.unlabelled))]
    sample = Path(config.sample_dir)
    if (sample / "human_labels.jsonl").exists():
        from training.data import load_calls

        human = {h["call_id"] for h in read_jsonl(sample / "human_labels.jsonl")}
        dialogues += [(c.account, c.turns) for c in load_calls(sample) if c.call_id not in human]
    rng.shuffle(dialogues)
    pairs = []
    for account, turns in dialogues[: config.max_pseudo]:
        context = render_context(turns, account, template)
        pairs.append((context, "".join(summarise(context, config.summary_sentences))))
    if config.pseudo_file and Path(config.pseudo_file).exists():
        pairs += [(r["context_text"], r["summary"]) for r in read_jsonl(Path(config.pseudo_file))]
    return [(redact(s), redact(t)) for s, t in pairs]  # no personal data in training data


def agreement_params(base: torch.nn.Module, on: str) -> list[torch.nn.Parameter]:
    """The parameters whose gradient directions X3 compares. The embedding tables' gradients touch only the rows of
    the batch's tokens, which differ between a fine and a pseudo batch: they are near-orthogonal whatever the data."""
    if on not in ("all", "transformer"):
        raise ValueError(f"agreement_on is all or transformer, not {on!r}")
    return [p for name, p in base.named_parameters() if p.requires_grad and (on == "all" or "embeddings" not in name)]


def gradient_cosine(first: dict[int, torch.Tensor], params: list[torch.nn.Parameter]) -> float:
    """Cosine between the gradients kept in `first` (by parameter id) and the parameters' current ones, over `params`,
    summed parameter by parameter: no flat copy of 50 M gradients (a missing gradient counts as zeros)."""
    dot = first_sq = second_sq = 0.0
    for p in params:
        a, b = first.get(id(p)), p.grad
        if a is not None:
            first_sq += float(a.float().pow(2).sum())
        if b is not None:
            second_sq += float(b.float().pow(2).sum())
        if a is not None and b is not None:
            dot += float((a.float() * b.float()).sum())
    return dot / max((first_sq * second_sq) ** 0.5, 1e-30)


def cosine_summary(cosines: list[float]) -> dict | None:
    """The distribution of the fine/pseudo gradient cosines (this run's steps)."""
    if not cosines:
        return None
    import numpy as np

    values = np.array(cosines)
    return {"n": len(values), "mean": round(float(values.mean()), 4), "positive_share": round(float((values > 0).mean()), 4),
            **{f"p{q}": round(float(np.percentile(values, q)), 4) for q in (5, 25, 50, 75, 95)}}


def train(config: TransferConfig) -> dict:
    if config.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {config.mode!r}")
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = random.Random(config.seed)
    out_dir = Path(config.out_dir)
    model = load(config.init_dir)
    template = model.template
    fine, valid = fine_examples(config, template)
    pseudo = pseudo_examples(config, template, rng) if config.mode != "clean" else []
    if not fine:
        raise ValueError("domain transfer needs labelled dialogues (csds or sample_dir)")
    log.info("domain transfer (%s): %d fine, %d pseudo, %d valid examples", config.mode, len(fine), len(pseudo), len(valid))
    base = model.base.model
    params = [p for p in base.parameters() if p.requires_grad]
    compared = agreement_params(base, config.agreement_on)
    optimizer, schedule = optimizer_for(base, config)
    accepted = {"steps": 0, "accepted": 0}
    cosines: list[float] = []

    def step_fn(step: int) -> dict:
        figures = {}

        def agree() -> None:  # X3, on the fine gradients descend has just computed
            fine_grad = {id(p): p.grad for p in params if p.grad is not None}
            optimizer.zero_grad(set_to_none=True)  # the fine gradients live on in fine_grad
            pseudo_loss = seq2seq_loss(model, rng.sample(pseudo, min(config.batch_size, len(pseudo))), config.max_target_tokens)
            pseudo_loss.backward()
            cosine = gradient_cosine(fine_grad, compared)
            cosines.append(cosine)
            keep = config.mode == "mix" or cosine > 0  # X3: a pseudo gradient against the clean one is noise
            for p in params:  # both (keep) or the fine one alone
                f = fine_grad.get(id(p))
                if not keep or p.grad is None:
                    p.grad = f
                elif f is not None:
                    p.grad.add_(f)
            accepted["steps"] += 1
            accepted["accepted"] += keep
            figures.update(pseudo_loss=pseudo_loss.item(), cosine=cosine, accepted=float(keep))

        fine_loss = seq2seq_loss(model, rng.sample(fine, min(config.batch_size, len(fine))), config.max_target_tokens)
        return {"fine_loss": descend(fine_loss, base, optimizer, schedule, agree if pseudo else None), **figures}

    @torch.no_grad()
    def eval_fn() -> float:
        base.eval()
        losses = [seq2seq_loss(model, valid[i:i + 32], config.max_target_tokens).item() for i in range(0, len(valid), 32)]
        return -sum(losses) / max(1, len(losses))

    model.info["stages"] = [*model.info.get("stages", []), f"transfer:{config.mode}"]
    report = run("transfer", config, base, optimizer, schedule, out_dir.with_name(out_dir.name + ".work"), step_fn, eval_fn,
                 lambda: model.save(out_dir))
    report |= {"fine_examples": len(fine), "pseudo_examples": len(pseudo),
               "pseudo_acceptance": round(accepted["accepted"] / accepted["steps"], 4) if accepted["steps"] else None,
               "gradient_cosine": cosine_summary(cosines), "agreement_on": config.agreement_on}
    log.info("pseudo gradients accepted in %s of steps; gradient cosine %s", report["pseudo_acceptance"], report["gradient_cosine"])
    write_report(out_dir / "train_report.json", report)
    return report
