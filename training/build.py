"""The four-stage build in one go (`callqa train all`): each stage in its own process, so its time and peak memory
are its own. Profiles: `default`, all four stages on the pretrained bge base and ../shared/data; `demo`, set-up and a
short fine-tune of the bge base on the project's telecom sample (the first command's model, in minutes); `quick`, a
tiny random BERT through the same code path on the sample alone (tests, CI: no download, no ../shared)."""
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
PROFILES = ("default", "demo", "quick")
QUICK = {
    "setup": ["--base=tiny", "--hidden-size=64", "--intermediate-size=128", "--num-heads=4", "--num-layers=2",
              "--decoder-layers=1", "--max-length=512", "--projection-dims=128,64"],
    "pretrain": ["--products=", "--steps=20", "--eval-every=10", "--batch-size=16", "--valid-size=32", "--lr=2e-3"],
    "transfer": ["--csds=", "--unlabelled=", "--steps=16", "--eval-every=8", "--batch-size=8", "--lr=1e-3"],
    "finetune": ["--csds=", "--products=", "--steps=200", "--eval-every=50", "--batch-size=16", "--lr=2e-3", "--head-lr=2e-3"],
}
# The demo's model: the pretrained base fine-tuned on the telecom sample alone; stages 2 and 3 are left out (their
# outputs are the set-up model as it is), which the model's info records.
DEMO_STAGES = ("setup", "finetune")
# Seconds each stage typically takes on the 2-core machine (build_report.json of each profile): the overall ETA.
TYPICAL_SECONDS = {"default": {"setup": 20, "pretrain": 300, "transfer": 375, "finetune": 2770},
                   "demo": {"setup": 25, "finetune": 390},
                   "quick": {"setup": 25, "pretrain": 29, "transfer": 39, "finetune": 221}}
DEMO = {"finetune": ["--csds=", "--products=", "--steps=80", "--batch-size=12", "--eval-every=40", "--valid-per-source=60"]}


def stage_args(models: Path, sample_dir: Path, profile: str) -> dict[str, list[str]]:
    """Each stage reads the folder the one before wrote."""
    quick = profile == "quick"
    paths = {stage: models / name for stage, name in zip(STAGES, ("setup", "pretrained", "transferred", "default"))}
    args = {stage: [f"--out-dir={paths[stage]}"] for stage in STAGES}
    for before, stage in zip(STAGES, STAGES[1:]):
        args[stage].append(f"--init-dir={paths[before]}")
    if profile == "demo":
        args["finetune"] = [f"--out-dir={paths['finetune']}", f"--init-dir={paths['setup']}", *DEMO["finetune"]]
    args["transfer"].append(f"--sample-dir={sample_dir}")
    args["finetune"].append(f"--sample-dir={sample_dir}")
    if quick or (profile == "default" and not Path(PretrainConfig.text).exists()):
        text = models / "sample-text.txt"  # the sample's own utterances stand in for the pre-training corpus
        models.mkdir(parents=True, exist_ok=True)
        text.write_text("\n".join(sample_utterances(sample_dir)), encoding="utf-8")
        args["setup"].append(f"--vocab-texts={sample_dir}")
        args["pretrain"].append(f"--text={text}")
    if quick:
        for stage in STAGES:
            args[stage] += QUICK[stage]
    return args


def eta(profile: str, left: tuple[str, ...], elapsed: float, done: tuple[str, ...]) -> str:
    """"about N min left": the remaining stages' typical seconds, scaled by how this build compares so far."""
    typical = TYPICAL_SECONDS[profile]
    pace = elapsed / sum(typical[s] for s in done) if done and elapsed > 0 else 1.0
    return f"about {max(1, round(pace * sum(typical[s] for s in left) / 60))} min left"


def build_all(models: Path, sample_dir: Path, quick: bool = False, extra: dict[str, list[str]] | None = None,
              stages: tuple[str, ...] | None = None, profile: str = "") -> dict:
    """Run the stages as `callqa train <stage>` processes; report seconds and peak memory of each, and the overall
    progress (stage k of n, elapsed) as each starts."""
    profile = profile or ("quick" if quick else "default")
    if profile not in PROFILES:
        raise ValueError(f"profile is one of {PROFILES}, not {profile!r}")
    stages = stages or (DEMO_STAGES if profile == "demo" else STAGES)
    args = stage_args(models, sample_dir, profile)
    report = {"profile": profile, "stages": {}}
    if stages[0] != "setup" and (models / "build_report.json").exists():  # a resumed chain keeps the earlier stages' figures
        report["stages"] = json.loads((models / "build_report.json").read_text(encoding="utf-8"))["stages"]
    build_started = time.time()
    for k, stage in enumerate(stages, 1):
        command = [sys.executable, "-m", "streams.cli", "train", stage, *args[stage], *(extra or {}).get(stage, [])]
        elapsed = time.time() - build_started
        log.info("build (%s profile): stage %d of %d, %s, %.0f s elapsed, %s: %s", profile, k, len(stages), stage,
                 elapsed, eta(profile, stages[k - 1:], elapsed, stages[:k - 1]), " ".join(command[3:]))
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
