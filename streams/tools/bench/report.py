"""`callqa bench`'s report: the issue's figures from the raw measurements, the chart and the table."""
from __future__ import annotations

from pathlib import Path

import orjson

BASELINE_MODES = ("one-in-flight", "one-request", "in-process")  # the modes the default path is compared with


def summarise_report(report: dict) -> dict:
    """The issue's figures from the raw measurements: efficiency, ratios, breakdown per call."""
    pipeline = report["pipeline"]
    main = pipeline["micro-batched"]
    best = reference_step(main)
    rate = best["rate_achieved"]
    summary: dict = {"max_sustained_calls_per_s": main["max_sustained_rate"], "lcs_ratio": report["lcs"]["ratio"],
                     "rule_ms_per_segment": report["rules"]["automaton_ms_per_segment"],
                     "rule_loop_ratio": report["rules"]["ratio"],
                     "ingestion_segments_per_s": report["ingestion"]["segments_per_s"]}
    if "half_rate" in main:
        summary["p95_ms_at_half_rate"] = main["half_rate"]["latency_ms"]["p95"]
    # The limit: Triton alone at the batch size the worker's requests averaged, at its best concurrency.
    worker_batch = max(1, round(best["triton"]["avg_batch"]))
    at_batch = [r for r in report["perf_analyzer"] if r["batch"] == worker_batch] or report["perf_analyzer"]
    limit = max(at_batch, key=lambda r: r["inferences_per_s"])
    per_call = best["inferences_per_call"]
    limit_calls = limit["inferences_per_s"] / per_call if per_call else 0
    summary.update({"inferences_per_call": per_call, "worker_batch": best["triton"]["avg_batch"],
                    "triton_limit_inferences_per_s": limit["inferences_per_s"], "triton_limit_batch": limit["batch"],
                    "triton_limit_calls_per_s": round(limit_calls, 2),
                    "pipeline_efficiency": round(rate / limit_calls, 2) if limit_calls else None})
    if "past" in report:
        summary["past_backfill_max_s"] = report["past"]["backfill_max_s"]
        summary["past_search_p95_ms"] = report["past"]["search_ms"]["p95"]
    if "live" in report:
        summary["live_concurrent_calls"] = report["live"]["max_concurrent_calls"]
    if "curves" in report:
        curves = report["curves"]
        summary["worker_cpu_ms_per_call_by_labels"] = {str(p["labels"]): p["worker_cpu_ms_per_call"]
                                                       for p in curves["catalog"]}
        summary["worker_cpu_ms_per_call_by_open_calls"] = {str(p["open_calls"]): p["worker_cpu_ms_per_call"]
                                                           for p in curves["open_calls"]}
    # CPU seconds per completed call, by process, at the highest sustained rate: where the two cores go.
    cpu = {name: round(1000 * p["cpu_s"] / best["completed"], 1) for name, p in best["processes"].items()}
    parts = report["worker_parts_ms_per_call"]
    worker = cpu.get("worker", 0.0)
    summary["cpu_ms_per_call"] = cpu
    summary["worker_breakdown_ms_per_call"] = {**parts, "faust_kafka_and_loop": round(worker - sum(parts.values()), 1)}
    for naive in BASELINE_MODES:
        if naive in pipeline:
            other = reference_step(pipeline[naive])
            summary[f"vs_{naive}"] = {
                "max_sustained_calls_per_s": pipeline[naive]["max_sustained_rate"],
                "pipeline_efficiency": round(other["rate_achieved"] / limit_calls, 2) if limit_calls else None,
                "throughput_ratio": round(rate / other["rate_achieved"], 2) if other["rate_achieved"] else None,
                "p95_ms": other["latency_ms"]["p95"],
                "p95_ms_default_at_same_rate": p95_at(main, other["rate_offered"]),
                # The ladder's steps are 25% apart: at the highest rate both modes were offered, how each coped.
                "at_highest_common_rate": highest_common(main, pipeline[naive]),
            }
    return summary


def highest_common(ladder: dict, other: dict) -> dict | None:
    rates = {s["rate_offered"] for s in ladder["steps"]} & {s["rate_offered"] for s in other["steps"]}
    if not rates:
        return None
    top = max(rates)
    mine, theirs = (next(s for s in l["steps"] if s["rate_offered"] == top) for l in (ladder, other))
    return {"rate_offered": top, "completed_ratio": round(mine["rate_achieved"] / theirs["rate_achieved"], 2) if theirs["rate_achieved"] else None,
            "p95_ms": mine["latency_ms"]["p95"], "p95_ms_naive": theirs["latency_ms"]["p95"]}


def reference_step(ladder: dict) -> dict:
    """The step a mode is judged by: its highest sustained rate, else (a ladder that never kept up) its best effort."""
    return ladder["at_max"] or max(ladder["steps"], key=lambda s: s["rate_achieved"])


def p95_at(ladder: dict, rate: float) -> int | None:
    """The default path's p95 at the step closest to `rate` (for 'equal or better p95' against a naive mode)."""
    steps = [s for s in ladder["steps"] if s["completed"]]
    if not steps:
        return None
    return min(steps, key=lambda s: abs(s["rate_offered"] - rate))["latency_ms"]["p95"]


# --- the page people look at -----------------------------------------------------------------------------------------

def chart(report: dict, path: Path) -> Path:
    """Latency against offered rate per mode, achieved against offered, CPU per call by process, and the ratios."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(19, 9))
    latency, achieved, growth, cpu, ratios, spare = axes.flat
    spare.axis("off")
    for mode, ladder in report.get("pipeline", {}).items():
        steps = ladder["steps"]
        rates = [s["rate_offered"] for s in steps]
        line = latency.plot(rates, [s["latency_ms"]["p95"] for s in steps], marker="o", label=f"{mode} p95")[0]
        latency.plot(rates, [s["latency_ms"]["p50"] for s in steps], marker=".", ls="--", color=line.get_color(), label=f"{mode} p50")
        achieved.plot(rates, [s["rate_achieved"] for s in steps], marker="o", color=line.get_color(), label=mode)
    bound = report["config"]["p95_bound_s"] * 1000
    latency.axhline(bound, color="grey", ls=":", label=f"p95 bound {bound:.0f} ms")
    latency.set(xlabel="offered calls/s", ylabel="end-of-call → final attribution (ms)", yscale="log",
                title="Latency at each offered rate")
    latency.legend(fontsize=7)
    top = max([s["rate_offered"] for l in report.get("pipeline", {}).values() for s in l["steps"]] or [1])
    achieved.plot([0, top], [0, top], color="grey", ls=":", label="keeps up")
    achieved.set(xlabel="offered calls/s", ylabel="completed calls/s", title="Throughput")
    achieved.legend(fontsize=7)
    curves = report.get("curves", {})
    for key, name in (("catalog", "labels"), ("open_calls", "open_calls")):
        points = curves.get(key, [])
        if points:
            growth.plot([p[name] for p in points], [p["worker_cpu_ms_per_call"] for p in points], marker="o",
                        label={"labels": "labels in the catalog", "open_calls": "calls held open"}[name])
    growth.set(xscale="log", xlabel="labels in the catalog / calls held open", ylabel="worker CPU ms per call",
               title="How the worker's cost grows")
    growth.set_ylim(bottom=0)
    if curves:
        growth.legend(fontsize=7)
    summary = report.get("summary", {})
    per_call = {**summary.get("worker_breakdown_ms_per_call", {})}
    others = {k: v for k, v in summary.get("cpu_ms_per_call", {}).items() if k != "worker"}
    labels = [f"worker: {k}" for k in per_call] + list(others)
    values = list(per_call.values()) + list(others.values())
    cpu.barh(labels, values, color=["#4c72b0"] * len(per_call) + ["#dd8452"] * len(others))
    cpu.set(xlabel="CPU ms per call (at the highest sustained rate)", title="Where the two cores go")
    figures = {"LCS: rapidfuzz ÷ Python DP": report["lcs"]["ratio"],
               f"rules: {report['rules']['phrases']:,} phrases, loop ÷ automaton": report["rules"]["ratio"],
               "0.2 ms ÷ rule ms per segment": 0.2 / max(report["rules"]["automaton_ms_per_segment"], 1e-6)}
    if summary.get("pipeline_efficiency") is not None:
        figures["pipeline ÷ Triton limit"] = summary["pipeline_efficiency"]
    for naive in BASELINE_MODES:
        if summary.get(f"vs_{naive}", {}).get("throughput_ratio"):
            figures[f"micro-batched ÷ {naive}"] = summary[f"vs_{naive}"]["throughput_ratio"]
    if summary.get("live_concurrent_calls") is not None:
        figures["live calls at p95 ≤ 1.5 s ÷ 50"] = max(summary["live_concurrent_calls"], 0.5) / 50
    figures["ingestion ÷ 5,000 segments/s"] = report["ingestion"]["segments_per_s"] / 5000
    if report.get("past"):
        past = report["past"]
        figures[f"60 s ÷ back-fill over {past['calls']:,} calls"] = 60 / max(past["backfill_max_s"], 1e-3)
        figures["300 ms ÷ search p95"] = 300 / max(past["search_ms"]["p95"], 1e-3)
    bars = ratios.barh(list(figures), list(figures.values()), color="#55a868")
    ratios.bar_label(bars, fmt="%.2f", fontsize=8)
    ratios.set(xscale="log", title="Ratios (1 = parity)")
    ratios.axvline(1, color="grey", ls=":")
    fig.suptitle(f"callqa bench — {report['machine']['cpus']} CPUs, calls from {Path(report['calls_from']).name}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown(report: dict) -> str:
    """The README's tables from one report."""
    lines = ["| mode | offered calls/s | completed calls/s | p50 ms | p95 ms | p99 ms | segments/s | Triton batch | CPU % worker / triton / kafka |",
             "|---|---|---|---|---|---|---|---|---|"]
    for mode, ladder in report.get("pipeline", {}).items():
        steps = ladder["steps"] + ([{**ladder["half_rate"], "half": True}] if "half_rate" in ladder else [])
        for s in steps:
            p = s["processes"]
            cpu = " / ".join(str(p.get(n, {}).get("cpu_pct", "–")) for n in ("worker", "triton", "kafka"))
            name = f"{mode} (half of max)" if s.get("half") else mode
            mark = "" if s["sustained"] else " ✗"
            lines.append(f"| {name} | {s['rate_offered']} | {s['rate_achieved']}{mark} | {s['latency_ms']['p50']} | "
                         f"{s['latency_ms']['p95']} | {s['latency_ms']['p99']} | {s['segments_per_s']} | {s['triton']['avg_batch']} | {cpu} |")
    if report.get("live"):
        live = report["live"]
        lines += ["", f"Live calls at {live['pace']:g}× the data's pace (p95 bound {live['p95_bound_ms']} ms, latency of "
                      "the records made once every call slot was busy):", "",
                  "| calls open | calls open while held | calls | p95 ms provisional / final | p50 ms all | segments/s | "
                  "Triton batch | CPU % worker / triton / kafka | held |", "|---|---|---|---|---|---|---|---|---|"]
        for level in live["levels"]:
            p, latency = level["processes"], level["latency_ms"]
            cpu = " / ".join(str(p.get(n, {}).get("cpu_pct", "–")) for n in ("worker", "triton", "kafka"))
            lines.append(f"| {level['concurrency']} | {level['open_calls_held']['min']}–{level['open_calls_held']['max']} | "
                         f"{level['completed']}/{level['calls']} | {latency['provisional']['p95']} / {latency['final']['p95']} | "
                         f"{latency['all']['p50']} | {level['segments_per_s']} | {level['triton']['avg_batch']} | {cpu} | "
                         f"{'✓' if level['sustained'] else '✗'} |")
    curves = report.get("curves")
    if curves:
        lines += ["", f"How the worker's cost grows ({curves['rate']:g} calls/s for {curves['seconds']:g} s per point, "
                      "a fresh worker each):", "", "| point | worker CPU ms per call | p95 ms | calls | worker peak RSS MB |",
                  "|---|---|---|---|---|"]
        for p in curves["catalog"] + curves["open_calls"]:
            point = f"{p['labels']:,} labels" if "labels" in p else f"{p['open_calls']:,} calls open"
            lines.append(f"| {point} | {p['worker_cpu_ms_per_call']} | {p['latency_ms']['p95']} | "
                         f"{p['completed']}/{p['calls']} | {p['worker_peak_rss_mb']} |")
    rules = report["rules"]
    lines += ["", f"Forbidden-phrase matching, {rules['phrases']:,} phrases on {rules['segments']:,} segments (automaton "
                  f"built in {rules['build_ms']} ms; {rules['segments_with_a_hit']} segments with a hit; same hits as the "
                  f"loop: {rules['same_hits']}): automaton {rules['automaton_ms_per_segment']} ms per segment, loop over the "
                  f"phrases {rules['loop_ms_per_segment']} ms, ×{rules['ratio']}."]
    if report.get("past"):
        past = report["past"]
        lines += ["", f"Past calls, {past['calls']:,} stored vectors of {past['dim']} dimensions ({past['centres']} "
                      f"topics; stored in {past['load_s']} s, HNSW index built in {past['index_s']} s): back-fill of a "
                      f"new label {' / '.join(map(str, past['backfill_s']))} s (target ≤ {past['targets']['backfill_max_s']} s; "
                      f"calls matched {' / '.join(map(str, past['backfill_matched']))}); search by meaning p50 "
                      f"{past['search_ms']['p50']} ms, p95 {past['search_ms']['p95']} ms (target ≤ "
                      f"{past['targets']['search_p95_ms']} ms), recall@20 against an exact search {past['recall_at_20']}."]
    if report.get("perf_analyzer"):
        lines += ["", "| perf_analyzer batch | concurrency | inferences/s | p50 ms | p95 ms |", "|---|---|---|---|---|"]
        lines += [f"| {r['batch']} | {r['concurrency']} | {r['inferences_per_s']} | {r['latency_ms']['p50']} | {r['latency_ms']['p95']} |"
                  for r in report["perf_analyzer"]]
    summary = report.get("summary", {})
    if summary:
        lines += ["", "| figure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in summary.items()]
    return "\n".join(lines) + "\n"


def write_outputs(report: dict, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "chart": out / "bench.png", "table": out / "bench.md"}
    paths["json"].write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    chart(report, paths["chart"])
    paths["table"].write_text(markdown(report), encoding="utf-8")
    return paths
