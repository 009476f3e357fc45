"""The step loop every stage shares: progress, evaluation, best checkpoint, early stop, and a resumable state
(`{modules, optimizer, schedule, step, best_metric, history, config}` written atomically at each evaluation)."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

log = logging.getLogger(__name__)
STATE = "state.pt"


def save_state(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def fingerprint(model_dir: Path) -> str:
    """A digest of a saved model's files (its training report aside): what a stage started from."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(model_dir).rglob("*") if p.is_file() and p.name != "train_report.json"):
        digest.update(str(path.relative_to(model_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def autocast(config):
    """bf16 autocast where the stage asks for it (`--bf16`, default on): on CPUs with AMX or AVX-512 BF16 a training
    step takes about half the time; weights, optimizer state and the saved model stay fp32."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=getattr(config, "bf16", False))


def run(name: str, config, model: torch.nn.Module, optimizer: torch.optim.Optimizer, schedule, work_dir: Path,
        step_fn: Callable[[int], dict], eval_fn: Callable[[], float], save_best: Callable[[], None]) -> dict:
    """Run `config.steps` steps of `step_fn` (which does forward, backward and the optimizer step and returns figures
    to log), evaluating every `config.eval_every` steps; `save_best` keeps the best model. Stops after
    `config.patience` evaluations without gain. Resumes from `work_dir/state.pt` when its config is this one and it
    started from the same model (`config.init_dir`): a stage re-run after the one before it changed starts over."""
    work_dir.mkdir(parents=True, exist_ok=True)
    state_path, config_dict = work_dir / STATE, json.loads(json.dumps(asdict(config)))
    config_dict["init_fingerprint"] = fingerprint(Path(config.init_dir))
    step, best, best_step, history, stale = 0, float("-inf"), 0, [], 0
    if state_path.exists():
        state = torch.load(state_path, weights_only=False)
        if state["config"] == config_dict:
            model.load_state_dict(state["modules"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            step, best, best_step, history, stale = state["step"], state["best_metric"], state["best_step"], state["history"], state["stale"]
            log.info("%s: resuming at step %d (best %.4f at %d)", name, step, best, best_step)
        else:
            log.info("%s: %s is from another config or start model; starting over", name, state_path)
    started, totals, window = time.time(), {}, 0
    model.train()
    with Progress(TextColumn(f"[bold]{name}[/]"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn()) as progress:
        bar = progress.add_task("steps", total=config.steps, completed=step, status="")
        while step < config.steps and stale < config.patience:
            step += 1
            with autocast(config):
                figures = step_fn(step)
            window += 1
            for key, value in figures.items():
                totals[key] = totals.get(key, 0.0) + value
            status = " ".join(f"{k} {v:.3f}" for k, v in figures.items())
            if step % config.eval_every == 0 or step == config.steps:
                with autocast(config):
                    metric = eval_fn()
                model.train()
                means = {k: round(v / window, 4) for k, v in totals.items()}  # the last window may be shorter
                totals, window = {}, 0
                history.append({"step": step, **means, "valid": round(metric, 4), "seconds": round(time.time() - started, 1)})
                if metric > best:
                    best, best_step, stale = metric, step, 0
                    save_best()
                else:
                    stale += 1
                status += f" valid {metric:.4f} (best {best:.4f}@{best_step})"
                log.info("%s step %d/%d %s %s", name, step, config.steps, means, status)  # progress without a terminal
                save_state(state_path, {"modules": model.state_dict(), "optimizer": optimizer.state_dict(),
                                        "schedule": schedule.state_dict(), "step": step, "best_metric": best,
                                        "best_step": best_step, "history": history, "stale": stale, "config": config_dict})
            progress.update(bar, completed=step, status=status)
    if stale >= config.patience:
        log.info("%s: validation stopped improving; stopped at step %d", name, step)
    return {"stage": name, "best_valid": best, "best_step": best_step, "steps_run": step, "history": history,
            "seconds": round(time.time() - started, 1), "peak_rss_mb": peak_rss_mb(), "config": config_dict}


def write_report(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def optimizer_for(model: torch.nn.Module, config, head: torch.nn.Module | None = None) -> tuple[torch.optim.Optimizer, object]:
    """AdamW over the trainable parameters; those of `head` (new layers on a pretrained base) at `config.head_lr`."""
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) not in head_ids], "lr": config.lr}]
    if head_ids:
        groups.append({"params": [p for p in trainable if id(p) in head_ids], "lr": config.head_lr})
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in groups], total_steps=config.steps,
                                                   pct_start=0.06)
    return optimizer, schedule


def descend(loss: torch.Tensor, model: torch.nn.Module, optimizer: torch.optim.Optimizer, schedule,
            combine: Callable[[], None] | None = None) -> float:
    """One optimizer step on `loss` (gradients clipped to norm 1); returns the loss. `combine`, run between the
    backward pass and the clipping, may change the gradients (transfer adds or drops a second batch's: X3)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if combine is not None:
        combine()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    optimizer.step()
    schedule.step()
    return loss.item()
