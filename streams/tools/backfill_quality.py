"""How well a label added after the calls finds them: `python -m streams.tools.backfill_quality [CALLS]`.

Runs the local stack (the model in triton_repo/) on a generated sample whose catalog lacks four labels, replays the
calls, then adds those labels through the dashboard's API and compares the calls their back-fill found with the
sample's truth (precision and recall, with Wilson 95 % intervals); and searches by meaning for one sentence per
held-out label (precision of the top 10 against the truth). Writes .callqa/backfill-quality.json."""
from __future__ import annotations

import json
import math
import shutil
import sys
import time
import urllib.parse
import urllib.request

import orjson

from streams.core.settings import Settings
from streams.tools import local
from streams.tools.reconcile import read_topic
from streams.tools.replay import publish, replay
from streams.tools.sample.generate import write_sample
from streams.tools.stack import HOME

# label held out of the catalog -> a sentence a QA lead might search for its calls with
HELD_OUT = {"product.roaming": "我下个月要出国，手机怎么开通国际漫游",
            "complaint.roaming_fee": "我在国外用了几天流量被收了好几百漫游费",
            "product.port_out": "我想把号码转到别的运营商去",
            "complaint.bad_service": "你们客服态度太差了老是推来推去"}
SEED = 11


def wilson(k: int, n: int, z: float = 1.96) -> list[float] | None:
    if not n:
        return None
    p, d = k / n, 1 + z * z / n
    centre, half = (p + z * z / (2 * n)) / d, z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [round(centre - half, 3), round(centre + half, 3)]


def main(calls: int = 200, timeout_s: float = 1800.0) -> dict:
    sample = HOME / "sample" / f"quality-{calls}"
    if not (sample / "truth.jsonl").exists():
        write_sample(sample, calls=calls, seed=SEED)
    catalog = [json.loads(line) for line in (sample / "catalog.jsonl").read_text("utf-8").splitlines()]
    kept = sample / "catalog-kept.jsonl"
    kept.write_text("".join(json.dumps(l, ensure_ascii=False) + "\n" for l in catalog if l["label_id"] not in HELD_OUT),
                    encoding="utf-8")
    truth = {t["call_id"]: t for t in map(json.loads, (sample / "truth.jsonl").read_text("utf-8").splitlines())}
    settings = Settings()
    kafka_data, database_data = HOME / "quality-kafka", HOME / "quality-postgres"
    for folder in (kafka_data, database_data):
        shutil.rmtree(folder, ignore_errors=True)
    results: dict = {"calls": calls, "held_out": {}, "search": {}}
    with local.running_stack(settings, kafka_data, 1, database_data) as running:
        token = running["dashboard_token"] or settings.dashboard_token.get_secret_value()

        def api(path: str, body: dict | None = None) -> dict:
            request = urllib.request.Request(running["dashboard"].rstrip("/") + path,
                                             data=None if body is None else orjson.dumps(body),
                                             headers={"Authorization": f"Bearer {token}",
                                                      "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                return orjson.loads(response.read())

        for event, path in (("label", kept), ("rule", sample / "rules.jsonl"), ("account", sample / "accounts.jsonl")):
            publish(settings, event, path)
        started = time.monotonic()
        replay(settings, sample / "transcript.jsonl", 0)
        done: set = set()
        while len(done) < len(truth) and time.monotonic() - started < timeout_s:
            time.sleep(15)
            done = {orjson.loads(v)["call_id"] for _, _, v in read_topic(settings, "scorecard")}
            print(f"{len(done)}/{len(truth)} calls finished after {time.monotonic() - started:.0f} s", flush=True)
        time.sleep(10)  # the sink's last batch
        for label in (l for l in catalog if l["label_id"] in HELD_OUT):
            api("/api/labels", {k: label[k] for k in ("label_id", "task", "name", "description", "keywords")})
            found: dict = {}
            for _ in range(90):
                time.sleep(1)
                found = api(f"/api/labels/{label['label_id']}/backfill")
                if found.get("backfill"):
                    break
            true = {c for c, t in truth.items() if t.get(label["task"]) == label["label_id"]}
            got = {c["call_id"] for c in found.get("calls", [])}
            right = len(true & got)
            results["held_out"][label["label_id"]] = {
                "true_calls": len(true), "backfilled": len(got), "correct": right,
                "precision": round(right / len(got), 3) if got else None, "precision_95": wilson(right, len(got)),
                "recall": round(right / len(true), 3) if true else None, "recall_95": wilson(right, len(true)),
                "scored": (found.get("backfill") or {}).get("calls_scored"),
                "seconds": (found.get("backfill") or {}).get("seconds")}
            print(label["label_id"], results["held_out"][label["label_id"]], flush=True)
        for label_id, sentence in HELD_OUT.items():
            task = label_id.split(".")[0]
            found = api("/api/search?" + urllib.parse.urlencode({"q": sentence, "limit": 10, "task": task}))
            right = sum(1 for r in found["results"] if truth[r["call_id"]].get(task) == label_id)
            results["search"][label_id] = {"query": sentence, "right_in_top_10": right,
                                           "precision_at_10_95": wilson(right, len(found["results"])),
                                           "ms": found["ms"]}
            print(label_id, results["search"][label_id], flush=True)
    (HOME / "backfill-quality.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
