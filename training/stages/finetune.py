"""Downstream fine-tune, matching (method Y1-Y4): the call's generated-information vector is matched by cosine
to the candidate label vectors; cross-entropy over the scaled cosines against the true label."""
from __future__ import annotations

import json
import logging
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from streams.render import DEFAULT_TEMPLATE, render_label
from training.data import SHARED_DATA, build_vocab, load_calls, load_catalog, match_examples, split
from training.model import CallqaModel, build, load
from training.modules import Seq2SeqBase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneConfig:
    sample_dir: str = ".callqa/sample/train"
    out_dir: str = ".callqa/models/default"
    base: str = ""  # a local HF seq2seq checkpoint folder; empty builds a T5-style model from a config
    vocab: str = ""  # vocab.txt for a new base; empty: ../shared/data/vocab.txt if present, else built from the data
    # Sized to train in minutes on 2 CPU cores; issue #3's pre-training is what makes it good.
    d_model: int = 128
    d_ff: int = 512
    num_heads: int = 4
    num_layers: int = 2
    num_decoder_layers: int = 1
    generate_tokens: int = 2
    max_length: int = 448  # covers the rendered text at the template's 300-character dialogue budget
    projection_dims: tuple = (256, 128)
    steps: int = 400
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.01
    scale: float = 20.0
    valid_share: float = 0.15
    eval_every: int = 50
    patience: int = 4  # evaluations without improvement before stopping (converged)
    seed: int = 13
    threads: int = 2


def new_base(config: FinetuneConfig, texts: list[str], work_dir: Path) -> Seq2SeqBase:
    """Method stage 1 for a new model: a small T5-style encoder-decoder over the bert-base-chinese vocabulary."""
    from transformers import BertTokenizerFast, T5Config, T5ForConditionalGeneration

    if config.vocab == "build" or (not config.vocab and not (SHARED_DATA / "vocab.txt").exists()):
        vocab = build_vocab(texts, work_dir / "vocab.txt")
    else:
        vocab = Path(config.vocab) if config.vocab else SHARED_DATA / "vocab.txt"
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    t5 = T5Config(
        vocab_size=tokenizer.vocab_size, d_model=config.d_model, d_kv=config.d_model // config.num_heads, d_ff=config.d_ff,
        num_layers=config.num_layers, num_decoder_layers=config.num_decoder_layers, num_heads=config.num_heads,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id,
        decoder_start_token_id=tokenizer.pad_token_id, dropout_rate=0.1, tie_word_embeddings=True,
    )
    return Seq2SeqBase(config.generate_tokens, config.max_length, T5ForConditionalGeneration(t5), tokenizer)


def label_texts(catalog: list[dict], task: str) -> tuple[list[str], list[str]]:
    labels = sorted((l for l in catalog if l["task"] == task), key=lambda l: l["label_id"])
    return [l["label_id"] for l in labels], [render_label(l) for l in labels]


@torch.no_grad()
def evaluate(model: CallqaModel, examples, catalog: list[dict], batch_size: int = 32) -> float:
    """Top-1 accuracy against all labels of the task."""
    model.eval()
    correct = 0
    for task in ("product", "complaint"):
        ids, texts = label_texts(catalog, task)
        label_vectors = model.encode(texts)
        task_examples = [e for e in examples if e.task == task]
        for i in range(0, len(task_examples), batch_size):
            chunk = task_examples[i:i + batch_size]
            predicted = (model.encode([e.text for e in chunk]) @ label_vectors.T).argmax(-1)
            correct += sum(ids[p] == e.label_id for p, e in zip(predicted.tolist(), chunk))
    model.train()
    return correct / max(1, len(examples))


def train(config: FinetuneConfig) -> dict:
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = random.Random(config.seed)
    sample_dir, out_dir = Path(config.sample_dir), Path(config.out_dir)
    calls, catalog = load_calls(sample_dir), load_catalog(sample_dir)
    train_calls, valid_calls = split(calls, config.valid_share, config.seed)
    template = DEFAULT_TEMPLATE
    train_examples, valid_examples = match_examples(train_calls, template), match_examples(valid_calls, template)
    work_dir = out_dir.with_name(out_dir.name + ".work")
    if config.base:
        base = Seq2SeqBase.from_pretrained(config.base, generate_tokens=config.generate_tokens, max_length=config.max_length)
    else:
        texts = [e.text for e in train_examples] + [render_label(l) for l in catalog] + [template.context] + list(template.prompts.values())
        base = new_base(config, texts, work_dir)
    model = build(base, template, tuple(config.projection_dims))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps, pct_start=0.1)
    by_task = {task: label_texts(catalog, task) for task in ("product", "complaint")}
    best, best_step, evals_without_gain, started = -1.0, 0, 0, time.time()
    history = []
    model.train()
    with Progress(TextColumn("[bold]fine-tune[/]"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn()) as progress:
        bar = progress.add_task("steps", total=config.steps, status="")
        for step in range(1, config.steps + 1):
            batch = rng.sample(train_examples, min(config.batch_size, len(train_examples)))
            loss = torch.zeros(())
            for task, (ids, texts) in by_task.items():
                chunk = [e for e in batch if e.task == task]
                if not chunk:
                    continue
                label_vectors = model.encode(texts)
                logits = config.scale * model.encode([e.text for e in chunk]) @ label_vectors.T
                target = torch.tensor([ids.index(e.label_id) for e in chunk])
                loss = loss + F.cross_entropy(logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            status = f"loss {loss.item():.3f}"
            if step % config.eval_every == 0 or step == config.steps:
                accuracy = evaluate(model, valid_examples, catalog)
                history.append({"step": step, "loss": round(loss.item(), 4), "valid_top1": round(accuracy, 4)})
                if accuracy > best:
                    best, best_step, evals_without_gain = accuracy, step, 0
                    model.save(out_dir)  # keep the best checkpoint on the validation split
                else:
                    evals_without_gain += 1
                status += f" valid top-1 {accuracy:.3f} (best {best:.3f}@{best_step})"
                log.info("step %d/%d %s", step, config.steps, status)  # progress where no terminal shows the bar
            progress.update(bar, advance=1, status=status)
            if evals_without_gain >= config.patience:
                log.info("validation stopped improving at step %d", step)
                break
    report = {"config": asdict(config), "best_valid_top1": best, "best_step": best_step, "history": history,
              "train_examples": len(train_examples), "valid_examples": len(valid_examples),
              "seconds": round(time.time() - started, 1), "parameters": sum(p.numel() for p in model.parameters())}
    tmp = out_dir / "train_report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, out_dir / "train_report.json")
    return report
