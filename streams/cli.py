"""`callqa`: the one command-line entry point. Heavy imports stay inside the commands."""
from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="callqa: real-time product and complaint attribution of call-centre calls (Kafka + Triton).")
train_app = typer.Typer(no_args_is_help=True, help="Build the model, one method stage per command.")
app.add_typer(train_app, name="train")
console = Console()
log = logging.getLogger("callqa")
EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    from streams.core import logs

    logs.configure(verbose)


def _settings():
    from streams.core.settings import Settings

    return Settings()


@app.command()
def sample(out: Path = typer.Argument(..., help="Folder to write the sample event files into."),
           calls: int = 300, seed: int = 7) -> None:
    """Generate telecom-flavoured sample calls, accounts, a label catalog and human labels."""
    from streams.tools.sample.generate import write_sample

    console.print(write_sample(out, calls=calls, seed=seed))


@app.command()
def topics() -> None:
    """Create callqa's topics (partitions, compaction) where missing."""
    from streams.core.topics import create_topics

    console.print(f"created: {create_topics(_settings()) or 'none, all exist'}")


@app.command()
def worker() -> None:
    """Run one Faust worker (configured by CALLQA_* variables)."""
    settings = _settings()
    log.info("settings: %s", settings.masked())
    from streams.worker.app import build_worker, run

    run(build_worker(settings))


@app.command()
def dashboard() -> None:
    """The supervisors' live view and the QA alert feed: a web page on CALLQA_DASHBOARD_HOST:PORT (127.0.0.1:18080)."""
    settings = _settings()
    log.info("settings: %s", settings.masked())
    from streams.dashboard.server import serve
    from streams.tools.stack import dashboard_token

    token, generated = dashboard_token(settings)
    if generated:  # never logged: written where only this user can read it
        path = Path(settings.data_dir) / "dashboard-token"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(token + "\n")
        console.print(f"no CALLQA_DASHBOARD_TOKEN set: the login token is in {path}")
    console.print(f"dashboard: http://{settings.dashboard_host}:{settings.dashboard_port}/")
    serve(settings, token)


@app.command()
def publish(event: str = typer.Argument(..., help="account | label | rule | human_label | transcript"), file: Path = typer.Argument(...)) -> None:
    """Send every line of FILE to the event's topic."""
    from streams.tools.replay import publish as publish_file

    console.print(f"{publish_file(_settings(), event, file)} records sent to {_settings().topic(event)}")


@app.command()
def replay(file: Path, rate: float = typer.Option(1.0, help="Speed-up over the events' own times; 0 sends at once.")) -> None:
    """Replay a JSONL file of transcript events (call_start, segment, call_end) in event-time order."""
    from rich.progress import Progress

    from streams.tools.replay import replay as replay_file

    with Progress(console=console) as progress:
        bar = progress.add_task("replay", total=None)
        sent = replay_file(_settings(), file, rate, lambda n, total: progress.update(bar, completed=n, total=total))
    console.print(f"{sent} transcript events sent")


@app.command()
def watch(seconds: float = typer.Option(0, help="Stop after this long; 0 runs until Ctrl-C.")) -> None:
    """Live view of attributions, alerts, pseudo-labels and dead letters."""
    from rich.live import Live

    from streams.tools.watch import View, consumer_at_end, poll_into

    settings = _settings()
    consumer, view = consumer_at_end(settings), View(settings)
    deadline = time.monotonic() + seconds if seconds else float("inf")
    try:
        with Live(view.render(), console=console, refresh_per_second=4) as live:
            while time.monotonic() < deadline:
                if poll_into(consumer, view, settings):
                    live.update(view.render())
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


@app.command()
def check(timeout_s: float = typer.Option(60.0, help="Longest wait for one topic to be read to its end."),
          database: bool = typer.Option(None, "--database/--no-database",
                                        help="Also compare the topics with the QA database (default: when it answers).")) -> None:
    """Reconcile a run: inputs vs outputs (after de-duplication) vs dead letters, and the QA database; exit 1 on any gap."""
    from streams.qadb.store import reachable
    from streams.tools.reconcile import reconcile

    settings = _settings()
    report = reconcile(settings, timeout_s=timeout_s, database=reachable(settings) if database is None else database)
    console.print(dict(sorted(report.counts.items())))
    for gap in report.gaps:
        console.print(f"[red]gap[/] {gap}", markup=True, highlight=False)
    console.print("[green]every input accounted for[/]" if report.ok else f"[red]{len(report.gaps)} gaps[/]")
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def sink() -> None:
    """Store the output topics in the QA database (PostgreSQL, CALLQA_DATABASE_URL): batched upserts on
    idempotency_key, offsets committed after each transaction; runs until stopped (SIGTERM or Ctrl-C)."""
    import signal

    from streams.qadb.sink import Sink

    settings = _settings()
    log.info("settings: %s", settings.masked())
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())  # write what it holds, leave the group, exit
    log.info("sink stopped: %s", dict(Sink(settings, stop).run()))


@app.command("export-csv")
def export_csv(what: str = typer.Option("attributions", help="attributions (the final ones) | alerts | scorecards."),
               since: str = typer.Option(..., help="First day (YYYY-MM-DD, the centre's day: UTC+CALLQA_DASHBOARD_UTC_OFFSET_H) or an ISO time."),
               until: str = typer.Option(None, help="Day or time the period ends before (default: now)."),
               out: Path = typer.Option(..., help="The CSV file to write (UTF-8 with BOM: Excel opens Chinese as it is)."),
               provisional: bool = typer.Option(False, help="Attributions: every one, provisional ones too.")) -> None:
    """A period's results from the QA database as CSV, for spreadsheets."""
    from datetime import datetime, timezone

    from streams.qadb.export import WHAT, export_csv as write_csv, parse_time
    from streams.qadb.store import connect

    if what not in WHAT:
        raise typer.BadParameter(f"--what takes one of {WHAT}")
    settings = _settings()
    offset = settings.dashboard_utc_offset_h
    start = parse_time(since, offset)
    end = parse_time(until, offset) if until else datetime.now(timezone.utc)
    with connect(settings) as conn:
        rows = write_csv(conn, what, start, end, out, offset, provisional)
    console.print(f"{rows} {what} of [{start.isoformat()}, {end.isoformat()}) written to {out}")


def _stage(name: str, module: str, config: str, doc: str) -> None:
    def command(ctx: typer.Context) -> None:
        import importlib

        from training.config import override

        stage = importlib.import_module(f"training.stages.{module}")
        run = getattr(stage, "setup" if name == "setup" else "train")
        report = run(override(getattr(stage, config)(), ctx.args))
        if isinstance(report, dict):
            console.print({k: v for k, v in report.items() if k not in ("history", "config")})

    command.__doc__ = doc + " Options: --key=value of " + config + "."
    train_app.command(name, context_settings=EXTRA)(command)


_stage("setup", "setup", "SetupConfig", "Stage 1: the encoder-decoder base (new, or a local HF checkpoint) + projection layers.")
_stage("pretrain", "pretrain", "PretrainConfig", "Stage 2 (rarely): masked-span restoration, topic classification, summary extraction.")
_stage("transfer", "transfer", "TransferConfig", "Stage 3 (periodically): weakly-supervised domain transfer with gradient agreement (X1-X3).")
_stage("finetune", "finetune", "FinetuneConfig", "Stage 4 (per business need): matching fine-tune (Y1-Y4).")


@train_app.command("all", context_settings=EXTRA)
def train_all(ctx: typer.Context, models: Path = typer.Option(Path(".callqa/models"), help="Folder of the stages' outputs."),
              sample_dir: Path = typer.Option(Path(".callqa/sample/train"), help="The telecom sample (written if absent)."),
              quick: bool = typer.Option(False, "--quick", help="A tiny model from the sample alone, in minutes (tests)."),
              profile: str = typer.Option("", help="default | demo | quick (--quick is quick)."),
              start: str = typer.Option("setup", help="First stage to run (the earlier ones' outputs must exist).")) -> None:
    """The whole four-stage build; extra options as STAGE.key=value (e.g. --finetune.steps=100)."""
    from training.build import STAGES, build_all

    if not (sample_dir / "truth.jsonl").exists():
        from streams.tools.sample.generate import write_sample

        write_sample(sample_dir, calls=1500, seed=1)
    extra: dict[str, list[str]] = {}
    for arg in ctx.args:
        stage, _, rest = arg.removeprefix("--").partition(".")
        if stage not in STAGES or not rest:
            raise typer.BadParameter(f"expected --STAGE.key=value with STAGE in {STAGES}, got {arg!r}")
        extra.setdefault(stage, []).append("--" + rest)
    if start not in STAGES:
        raise typer.BadParameter(f"--start takes one of {STAGES}")
    stages = STAGES[STAGES.index(start):] if start != "setup" else None
    console.print(build_all(models, sample_dir, quick=quick, extra=extra, stages=stages, profile=profile))


@app.command("eval")
def evaluate(data: Path = typer.Argument(..., help="JSONL in ../shared/data's formats (CSDS dialogues or product texts)."),
             model: str = typer.Option(".callqa/models/default", help="A model folder, or baseline:tfidf-lr / baseline:lexical / baseline:prior."),
             labels: Path = typer.Option(None, help="Candidate label catalog (JSONL label events or one name per line)."),
             split: str = typer.Option("test", help="test: the fixed held-out splits; all: every record (an external file)."),
             train_file: Path = typer.Option(None, help="Training data for baseline:tfidf-lr and baseline:prior with --split all."),
             out: Path = typer.Option(None, help="Write the JSON report here.")) -> None:
    """Score a model or a baseline: top-1/top-3/macro-F1 (seen and unseen labels), accuracy, ROUGE-L of LCS summaries."""
    from training.evaluate import evaluate_file

    evaluate_file(data, model, out, labels_file=labels, split=split, train_file=train_file)


@app.command()
def export(model_dir: Path = typer.Argument(Path(".callqa/models/default")),
           repo: Path = typer.Option(None, help="Triton model repository (default: triton_repo/).")) -> None:
    """Write a trained model as the next numbered version of the Triton models."""
    from training.export import REPO_DIR, export as export_model

    console.print(f"exported version {export_model(model_dir, repo or REPO_DIR)}")


@app.command()
def compare(reports: list[Path] = typer.Argument(..., help="JSON reports written by `callqa eval --out`."),
            out: Path = typer.Option(None, help="Also write the markdown table here.")) -> None:
    """One markdown table (models and baselines side by side) from several `callqa eval` reports."""
    import json

    from training.evaluate import compare as compare_reports

    table = compare_reports([json.loads(p.read_text(encoding="utf-8")) for p in reports])
    if out:
        out.write_text(table, encoding="utf-8")
    console.print(table, markup=False, soft_wrap=True)


@app.command(context_settings=EXTRA)
def retrain(ctx: typer.Context, every: str = typer.Option("", help="Run on a schedule, e.g. 7d, 12h, 30m; empty runs once."),
            repo: Path = typer.Option(None, help="Triton model repository (default: triton_repo/).")) -> None:
    """Domain transfer + fine-tune from the pseudo-label topic; promote to Triton only when not worse.
    Options: --key=value of RetrainConfig (models, sample_dir, group, tolerance, quick, max_records)."""
    from training.config import override
    from training.export import REPO_DIR
    from training.retrain import RetrainConfig, retrain as run_retrain

    config, seconds = override(RetrainConfig(), ctx.args), _duration(every)
    while True:
        started = time.monotonic()
        settings = _settings()
        report = run_retrain(settings, config, repo or REPO_DIR)
        # The gate compares on the fixed validation splits; next to it, what QA sees of the model in service.
        report["live_agreement_7d"] = _live_agreement(settings)
        console.print({k: v for k, v in report.items() if k != "build"})
        if not seconds:
            return
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))


def _live_agreement(settings) -> dict | str:
    """Per task: the 7-day agreement of the final attributions with the human spot checks, and the last model
    version's (the dashboard's figure), from the QA database when it answers."""
    from streams.qadb import queries, store

    if not store.reachable(settings):
        return "the QA database does not answer"
    with store.connect(settings) as conn:
        if conn.execute("SELECT to_regclass('human_agreement')").fetchone()[0] is None:
            return "the QA database has no tables yet"
        week = {t["task"]: t for w in queries.agreement(conn) if w["days"] == 7 for t in w["tasks"]}
        baseline = queries.baseline(conn)
    return {task: {"agreement": t["agreement"], "checked": t["checked"],
                   "last_model": baseline.get(task, {}).get("previous_agreement")} for task, t in week.items()}


def _duration(text: str) -> float:
    if not text:
        return 0.0
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1] not in units or not text[:-1].replace(".", "", 1).isdigit():
        raise typer.BadParameter(f"expected a number and one of s/m/h/d, e.g. 7d; got {text!r}")
    return float(text[:-1]) * units[text[-1]]


@app.command()
def redaction(n: int = typer.Option(2000, help="Utterances of each kind (with identifiers, clean)."), seed: int = 0,
              out: Path = typer.Option(Path(".callqa/redaction-report.json"))) -> None:
    """Measure personal-data redaction: recall per identifier kind, share of clean text masked."""
    from streams.tools.redaction.identifiers import main as measure_main
    from streams.tools.redaction.words import main as measure_words

    measure_main([str(out), "--n", str(n), "--seed", str(seed)])
    # names, addresses, WeChat ids, plates, passports: a set of their own
    measure_words([str(out.with_name(out.stem + "-words.json")), "--n", str(max(n // 4, 50)), "--seed", str(seed)])


@app.command()
def up(workers: int = typer.Option(1, help="Faust workers to run."),
       model: Path = typer.Option(None, help="Model folder to serve, exported when it is not the newest version (like "
                                             "the demo's; default: the newest version in triton_repo/, else "
                                             ".callqa/models/default, built if absent)."),
       catalog: Path = typer.Option(None, help="Label catalog (JSONL) to publish once the stack is up (default: the "
                                               "sample's; publishing the same catalog again at each start is "
                                               "harmless)."),
       accounts: Path = typer.Option(None, help="Accounts (JSONL) to publish too."),
       rules: Path = typer.Option(None, help="QA rules (JSONL) to publish with the catalog (default: the sample's)."),
       publish_catalog: bool = typer.Option(True, "--catalog-publish/--no-catalog-publish",
                                            help="Publish the catalog (off: the catalog topic is fed elsewhere).")) -> None:
    """Start Kafka, the QA database, Triton, the workers, the dashboard and the sink on this machine and keep them
    running until Ctrl-C. With a model and a catalog (the defaults), calls sent to callqa.transcript.v1 are attributed."""
    from streams.tools import local
    from streams.tools.replay import publish as publish_file
    from streams.tools.sample.generate import write_sample
    from streams.tools.stack import HOME
    from training.export import REPO_DIR, versions

    if model is not None or not versions(REPO_DIR, "callqa_encoder_decoder"):
        local.serve_model(model, console.print)
    sample = HOME / "sample" / "up"
    if publish_catalog and (catalog is None or rules is None) and not (sample / "rules.jsonl").exists():
        write_sample(sample, calls=1, seed=2)
    if publish_catalog:
        catalog, rules = catalog or sample / "catalog.jsonl", rules or sample / "rules.jsonl"
    with _stack(HOME / "kafka" / "data", workers) as running:
        settings = _settings()
        for event, path in (("label", catalog if publish_catalog else None), ("rule", rules if publish_catalog else None),
                            ("account", accounts)):
            if path is not None:
                console.print(f"published {publish_file(settings, event, path)} records of {path} to {settings.topic(event)}")
        console.print({k: v for k, v in running.items() if k != "dashboard_token"})
        _print_dashboard(running)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


@app.command()
def down() -> None:
    """Stop whatever an earlier `callqa up` or demo left running."""
    from streams.tools.stack import stop_recorded

    console.print(f"stopped: {stop_recorded() or 'nothing was running'}")


@contextlib.contextmanager
def _stack(kafka_data: Path, workers: int, database_data: Path | None = None):
    from streams.tools import local

    try:
        with local.running_stack(_settings(), kafka_data, workers, database_data) as running:
            yield running
    except local.NoModel as exc:
        raise typer.BadParameter(str(exc)) from exc


def _database_counts(settings, timeout_s: float = 30.0) -> dict:
    """Rows per table of the QA database once the sink has caught up with the topics (or after `timeout_s`)."""
    from streams.qadb.sink import lag
    from streams.qadb.store import connect, counts

    deadline = time.monotonic() + timeout_s
    while any(lag(settings).values()) and time.monotonic() < deadline:
        time.sleep(0.5)
    with connect(settings) as conn:
        return counts(conn)


# After the replay, a label nobody had when the calls came in, and a sentence to search for: both answered from
# the stored call vectors through the dashboard's own API, as its 标签详情 and 语义搜索 panels show them.
DEMO_LABEL = {"label_id": "product.roaming_data_pack", "task": "product", "name": "境外流量包",
              "description": "用户出国或去港澳台前咨询、订购境外流量包或日租包，了解各国家和地区的流量价格与生效时间。",
              "keywords": []}
DEMO_SEARCH = "出国以后手机没信号还被扣了很多钱"


def _demo_past_calls(settings, running: dict, timeout_s: float = 90.0) -> dict:
    import urllib.parse
    import urllib.request

    import orjson

    token = running["dashboard_token"] or settings.dashboard_token.get_secret_value()
    base = running["dashboard"].rstrip("/")

    def call(path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(base + path, data=None if body is None else orjson.dumps(body),
                                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return orjson.loads(response.read())

    call("/api/labels", DEMO_LABEL)
    deadline, found = time.monotonic() + timeout_s, {}
    while time.monotonic() < deadline and not found.get("backfill"):
        time.sleep(1.0)
        found = call(f"/api/labels/{DEMO_LABEL['label_id']}/backfill")
    backfill = found.get("backfill") or {}
    console.print(f"[bold]回溯 back-fill[/] new label {DEMO_LABEL['label_id']} 「{DEMO_LABEL['name']}」: "
                  f"{backfill.get('calls_scored', '?')} stored calls scored in {backfill.get('seconds', '?')} s, "
                  f"{backfill.get('calls_matched', '?')} it would have won")
    for c in found.get("calls", [])[:5]:
        console.print(f"  {c['call_id']}  {c['score']:.3f}  (was {c['previous_label_id']})  {c['snippet'][:40]}")
    searched = call("/api/search?" + urllib.parse.urlencode({"q": DEMO_SEARCH, "limit": 5}))
    console.print(f"[bold]语义搜索 search[/] 「{DEMO_SEARCH}」 ({searched['ms']} ms):")
    for r in searched["results"]:
        console.print(f"  {r['call_id']}  {r['score']:.3f}  {r['label_name']}  {r['snippet'][:40]}")
    return {"backfill": backfill, "backfill_top": found.get("calls", [])[:5], "search": searched}


def _print_dashboard(running: dict) -> None:
    login = "the token in $CALLQA_DASHBOARD_TOKEN" if running["dashboard_token"] is None else running["dashboard_token"]
    console.print(f"[bold]监控页面 dashboard:[/] {running['dashboard']}  login: any name + token {login}")


@app.command(context_settings=EXTRA)
def bench(ctx: typer.Context, model: Path = typer.Option(None, help="Model folder (default: .callqa/models/default, built if absent)."),
          data: Path = typer.Option(Path("../shared/data"), help="Where CSDS dialogues give the calls' segments (else the sample)."),
          triton_url: str = typer.Option(None, envvar="TRITON_URL", help="A running Triton (e.g. on a GPU) instead of a local one."),
          out: Path = typer.Option(Path(".callqa/bench"), help="Folder of report.json, bench.png and bench.md."),
          smoke: bool = typer.Option(False, help="A short run that checks every part works (CI); its figures mean little.")) -> None:
    """Sustained load, Triton's own limit (perf_analyzer), the naive ways, the LCS summariser and ingestion alone.
    Options: --key=value of BenchConfig (start_rate, growth, max_steps, step_s, call_s, p95_bound_s, modes, …)."""
    from streams.tools import local
    from streams.tools.bench.run import SMOKE, BenchConfig, run_local
    from training.config import override

    config = override(SMOKE if smoke else BenchConfig(), ctx.args)
    model_dir = local.serve_model(model, console.print)
    paths = run_local(config, model_dir, out, data if data.exists() else None, triton_url,
                      progress=lambda what: console.print(f"[bold]bench:[/] {what}"))
    console.print(paths["table"].read_text(encoding="utf-8"), markup=False, soft_wrap=True)
    console.print({k: str(v) for k, v in paths.items()})


@app.command()
def demo(calls: int = typer.Option(300, help="Calls to replay."), rate: float = typer.Option(10.0, help="Replay speed-up (10: a 10-minute sample in about a minute)."),
         workers: int = 1, timeout_s: float = 600.0,
         model: Path = typer.Option(None, help="Model folder to serve (default: .callqa/models/default, built if absent)."),
         keep: bool = typer.Option(False, "--keep", help="Keep the stack and the dashboard running after the replay, until Ctrl-C.")) -> None:
    """Everything: sample data, build + export the default model if absent, start the stack, replay, watch, stop."""
    import orjson
    from rich.live import Live

    from streams.tools import local
    from streams.tools.replay import publish as publish_file, replay as replay_file
    from streams.tools.sample.generate import write_sample
    from streams.tools.stack import HOME
    from streams.tools.watch import View, consumer_at_end, poll_into

    settings = _settings()
    demo_dir = HOME / "sample" / f"demo-{calls}"
    if not (demo_dir / "truth.jsonl").exists():
        write_sample(demo_dir, calls=calls, seed=2)
    local.serve_model(model, console.print)
    kafka_data, database_data = HOME / "demo-kafka", HOME / "demo-postgres"
    for folder in (kafka_data, database_data):
        shutil.rmtree(folder, ignore_errors=True)  # each demo starts from an empty broker and database
    truth = {t["call_id"]: t for t in map(orjson.loads, (demo_dir / "truth.jsonl").read_bytes().splitlines())}
    with _stack(kafka_data, workers, database_data) as running:
        console.print({k: v for k, v in running.items() if k != "dashboard_token"})
        _print_dashboard(running)
        for event, name in (("label", "catalog"), ("rule", "rules"), ("account", "accounts"),
                            ("human_label", "human_labels")):
            publish_file(settings, event, demo_dir / f"{name}.jsonl")
        consumer, view = consumer_at_end(settings), View(settings, truth=truth)
        started = time.monotonic()
        thread = threading.Thread(target=replay_file, args=(settings, demo_dir / "transcript.jsonl", rate), daemon=True)
        thread.start()
        with Live(view.render(), console=console, refresh_per_second=4) as live:
            while view.completed_calls() < len(truth) and time.monotonic() - started < timeout_s:
                if poll_into(consumer, view, settings):
                    live.update(view.render())
            poll_into(consumer, view, settings, timeout_s=2.0)
            live.update(view.render())
        consumer.close()
        report = {**view.stats(), "calls_replayed": len(truth), "wall_s": round(time.monotonic() - started, 1), "rate": rate}
        report["qa_database"] = _database_counts(settings)
        try:
            report["past_calls"] = _demo_past_calls(settings, running)
        except OSError as exc:  # the page's API did not answer (urllib's errors are OSErrors): say so, keep the report
            report["past_calls"] = {"error": str(exc)}
            console.print(f"[red]back-fill / search through the dashboard failed:[/] {exc}")
        (HOME / "demo-report.json").write_text(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        console.print(report)
        _print_dashboard(running)
        if keep:
            console.print("running until Ctrl-C")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)


if __name__ == "__main__":
    app()
