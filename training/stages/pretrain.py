"""Stage 2, pre-training on cross-domain Chinese text, every task text-to-text: masked-span restoration on any text
file, topic classification on product-labelled texts, summary extraction (the sentence the LCS auto-annotation
picks) on multi-sentence lines. Skipped when stage 1 took a pretrained checkpoint."""
from __future__ import annotations

import logging
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from streams.core.summarise import split_sentences, summarise
from training.config import TrainConfig
from training.data import SHARED_DATA, read_products, split_products
from training.loop import descend, optimizer_for, run, write_report
from training.model import CallqaModel, load

log = logging.getLogger(__name__)
MASK = "[MASK]"
TASK_PREFIXES = {"mask": "恢复：", "topic": "分类：", "summary": "摘要："}


@dataclass(frozen=True)
class PretrainConfig(TrainConfig):
    init_dir: str = ".callqa/models/setup"
    out_dir: str = ".callqa/models/pretrained"
    text: str = str(SHARED_DATA / "pretrain_zh_mixed.txt")  # one item per line; any text file
    products: str = str(SHARED_DATA / "online_shopping_train.jsonl")  # topic task; only its train split is used
    max_lines: int = 60000
    max_source_chars: int = 120
    max_target_tokens: int = 32
    mask_share: float = 0.15
    task_weights: tuple = (0.6, 0.25, 0.15)  # mask, topic, summary
    steps: int = 150
    batch_size: int = 16
    lr: float = 2e-4  # the decoder on a pretrained encoder (a random base takes more: the quick profile's 2e-3)
    eval_every: int = 50
    patience: int = 100
    valid_size: int = 48


def mask_spans(text: str, rng: random.Random, share: float) -> tuple[str, str]:
    """Replace spans (mean length 3) covering `share` of the characters with [MASK]; the target lists them in order."""
    chars, spans, i = list(text), [], 0
    budget = max(1, int(len(chars) * share))
    while budget > 0 and len(chars) > 4:
        length = min(budget, rng.choice((1, 2, 3, 3, 4, 5)))
        start = rng.randrange(0, max(1, len(chars) - length))
        if any(start < e + 1 and s < start + length + 1 for s, e in spans):
            i += 1
            if i > 20:
                break
            continue
        spans.append((start, start + length))
        budget -= length
    spans.sort()
    source, target, last = [], [], 0
    for s, e in spans:
        source.append("".join(chars[last:s]) + MASK)
        target.append(MASK + "".join(chars[s:e]))
        last = e
    source.append("".join(chars[last:]))
    return "".join(source), "".join(target)


def examples(config: PretrainConfig, rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    """(source, target) pairs per task, built once from the files."""
    with open(config.text, encoding="utf-8") as f:
        lines = [line.strip() for line in f if len(line.strip()) >= 8]
    rng.shuffle(lines)
    lines = lines[: config.max_lines]
    tasks: dict[str, list[tuple[str, str]]] = {"mask": [], "topic": [], "summary": []}
    for line in lines:
        text = line[: config.max_source_chars]
        tasks["mask"].append(mask_spans(text, rng, config.mask_share))
        if len(split_sentences(text)) >= 3:
            tasks["summary"].append((text, summarise(text, 1)[0]))
    if config.products and Path(config.products).exists():
        train = split_products(read_products(Path(config.products)))["train"]  # never the eval splits
        tasks["topic"] = [(d.turns[0]["text"][: config.max_source_chars], d.labels[0]) for d in train]
    return {task: [(TASK_PREFIXES[task] + s, t) for s, t in pairs] for task, pairs in tasks.items() if pairs}


def seq2seq_loss(model: CallqaModel, pairs: list[tuple[str, str]], max_target_tokens: int) -> torch.Tensor:
    base = model.base
    features = base.tokenize([s for s, _ in pairs])
    labels = base.tokenizer([t for _, t in pairs], padding=True, truncation=True, max_length=max_target_tokens,
                            return_tensors="pt", add_special_tokens=False, return_token_type_ids=False)["input_ids"]
    eos = torch.full((len(pairs), 1), base.tokenizer.sep_token_id)
    labels = torch.cat([labels, eos], 1)
    labels[labels == base.tokenizer.pad_token_id] = -100
    return base.model(input_ids=features["input_ids"], attention_mask=features["attention_mask"], labels=labels).loss


def train(config: PretrainConfig) -> dict:
    out_dir = Path(config.out_dir)
    model = load(config.init_dir)
    pretrained = model.info.get("base", {}).get("pretrained", "none")
    if pretrained == "seq2seq":
        log.info("stage 1 took a pretrained seq2seq checkpoint: pre-training skipped, %s copied to %s", config.init_dir, out_dir)
        shutil.copytree(config.init_dir, out_dir, dirs_exist_ok=True)
        return {"stage": "pretrain", "skipped": True}
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = random.Random(config.seed)
    tasks = examples(config, rng)
    valid = {task: pairs[: config.valid_size // len(tasks)] for task, pairs in tasks.items()}
    train_pairs = {task: pairs[config.valid_size // len(tasks):] for task, pairs in tasks.items()}
    names = list(train_pairs)
    weights = [config.task_weights[list(TASK_PREFIXES).index(t)] for t in names]
    log.info("pre-training examples: %s", {t: len(p) for t, p in train_pairs.items()})
    base = model.base.model
    if pretrained == "encoder":  # what is new is trained: the decoder and its cross-attention; the encoder stays as it came
        base.get_encoder().requires_grad_(False)
        log.info("pretrained encoder frozen: training the decoder (%d parameters)", sum(p.numel() for p in base.parameters() if p.requires_grad))
    optimizer, schedule = optimizer_for(base, config)

    def step_fn(step: int) -> dict:
        batch = [rng.choice(train_pairs[rng.choices(names, weights)[0]]) for _ in range(config.batch_size)]
        return {"loss": descend(seq2seq_loss(model, batch, config.max_target_tokens), base, optimizer, schedule)}

    @torch.no_grad()
    def eval_fn() -> float:
        base.eval()
        losses = [seq2seq_loss(model, pairs[i:i + 64], config.max_target_tokens).item()
                  for pairs in valid.values() for i in range(0, len(pairs), 64)]
        return -sum(losses) / len(losses)  # higher is better: negative validation loss

    model.info["stages"] = [*model.info.get("stages", []), "pretrain"]
    report = run("pretrain", config, base, optimizer, schedule, out_dir.with_name(out_dir.name + ".work"), step_fn, eval_fn,
                 lambda: model.save(out_dir))
    report["examples"] = {t: len(p) for t, p in train_pairs.items()}
    write_report(out_dir / "train_report.json", report)
    return report
