"""The four-stage build in one go (`callqa train all`): each stage in its own process, so its time and peak memory
are its own. The `quick` profile builds a tiny model from the project's sample alone (tests, CI, no ../shared)."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from training.data import sample_utterances
from training.loop import write_report
from training.stages.pretrain import PretrainConfig

log = logging.getLogger(__name__)
STAGES = ("setup", "pretrain", "transfer", "finetune")
QUICK = {
    "setup": ["--vocab=build", "--d-model=64", "--d-ff=128", "--num-heads=4", "--num-layers=2", "--num-decoder-layers=1",
              "--generate-tokens=2", "--max-length=512", "--projection-dims=128,64"],
    "pretrain": ["--products=", "--steps=20", "--eval-every=10", "--batch-size=16", "--valid-size=32"],
    "transfer": ["--csds=", "--unlabelled=", "--steps=16", "--eval-every=8", "--batch-size=8"],
    "finetune": ["--csds=", "--products=", "--steps=60", "--eval-every=30", "--batch-size=16"],
}


def stage_args(models: Path, sample_dir: Path, quick: bool) -> dict[str, list[str]]:
    """Each stage reads the folder the one before wrote."""
    paths = {stage: models / name for stage, name in zip(STAGES, ("setup", "pretrained", "transferred", "default"))}
    args = {stage: [f"--out-dir={paths[stage]}"] for stage in STAGES}
    for before, stage in zip(STAGES, STAGES[1:]):
        args[stage].append(f"--init-dir={paths[before]}")
    args["transfer"].append(f"--sample-dir={sample_dir}")
    args["finetune"].append(f"--sample-dir={sample_dir}")
    if quick or not Path(PretrainConfig.text).exists():
        text = models / "sample-text.txt"  # the sample's own utterances stand in for the pre-training corpus
        models.mkdir(parents=True, exist_ok=True)
        text.write_text("\n".join(sample_utterances(sample_dir)), encoding="utf-8")
        args["setup"].append(f"--vocab-texts={sample_dir}")
        args["pretrain"].append(f"--text={text}")
    if quick:
        for stage in STAGES:
            args[stage] += QUICK[stage]
    return args


def build_all(models: Path, sample_dir: Path, quick: bool = False, extra: dict[str, list[str]] | None = None,
              stages: tuple[str, ...] = STAGES) -> dict:
    """Run the stages as `callqa train <stage>` processes; report seconds and peak memory of each."""
    args = stage_args(models, sample_dir, quick)
    report = {"profile": "quick" if quick else "default", "stages": {}}
    if stages != STAGES and (models / "build_report.json").exists():  # a resumed chain keeps the earlier stages' figures
        report["stages"] = json.loads((models / "build_report.json").read_text(encoding="utf-8"))["stages"]
    for stage in stages:
        command = [sys.executable, "-m", "streams.cli", "train", stage, *args[stage], *(extra or {}).get(stage, [])]
        log.info("stage %s: %s", stage, " ".join(command[3:]))
        started = time.time()
        process = subprocess.Popen(command)
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"stage {stage} failed (exit {os.waitstatus_to_exitcode(status)})")
        report["stages"][stage] = {"seconds": round(time.time() - started, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
        log.info("stage %s done: %s", stage, report["stages"][stage])
    report["total_seconds"] = round(sum(s["seconds"] for s in report["stages"].values()), 1)
    write_report(models / "build_report.json", report)
    log.info("build: %s", json.dumps(report))
    return report
