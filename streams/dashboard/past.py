"""The dashboard's questions of the past, on the QA database: back-fill of labels added or re-worded (scored against
the stored call vectors of the last CALLQA_BACKFILL_DAYS, in the background), search of past calls by meaning, and
the agreement of the final attributions with the human spot checks (page and /metrics). Texts (a label, a search
sentence) are embedded by the served model, as the worker embeds labels; the calls are never run again."""
from __future__ import annotations

import asyncio
import logging
import time

import numpy as np
from aiohttp import web

from streams.core.render import render_label
from streams.core.settings import Settings
from streams.qadb import queries, store

log = logging.getLogger(__name__)
SEARCH_LIMIT_MAX = 100


class Unavailable(Exception):
    """The QA database or Triton did not answer: the page says which."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class TextEncoder:
    """Texts -> the served model's normalised vectors and its version (Triton's callqa_embed ensemble)."""

    def __init__(self, settings: Settings) -> None:
        import tritonclient.grpc.aio as grpcclient

        self.settings = settings
        self.client = grpcclient.InferenceServerClient(url=settings.triton_url, ssl=settings.triton_ssl,
                                                       root_certificates=settings.triton_root_certificates)

    async def embed(self, texts: list[str]) -> tuple[np.ndarray, str]:
        import tritonclient.grpc.aio as grpcclient
        from tritonclient.utils import InferenceServerException, np_to_triton_dtype

        data = np.array([[t.encode("utf-8")] for t in texts], dtype=np.object_)
        inputs = [grpcclient.InferInput("TEXT", list(data.shape), np_to_triton_dtype(data.dtype))]
        inputs[0].set_data_from_numpy(data)
        outputs = [grpcclient.InferRequestedOutput(n) for n in ("EMBEDDING", "MODEL_VERSION")]
        try:
            result = await self.client.infer(self.settings.triton_model, inputs, outputs=outputs,
                                             client_timeout=self.settings.triton_timeout_s)
        except InferenceServerException as exc:
            raise Unavailable("triton_unavailable", f"{exc.status()}: {exc.message()}") from exc
        return result.as_numpy("EMBEDDING").astype(np.float32), result.as_numpy("MODEL_VERSION")[0][0].decode()

    async def close(self) -> None:
        await self.client.close()


async def in_database(settings: Settings, work):
    """`work(conn)` on a connection of its own, off the event loop; Unavailable when the database does not answer."""
    import psycopg

    def run():
        with store.connect(settings) as conn:
            return work(conn)

    try:
        return await asyncio.get_running_loop().run_in_executor(None, run)
    except psycopg.OperationalError as exc:
        raise Unavailable("database_unavailable", str(exc).strip().splitlines()[0] if str(exc).strip() else "") from exc
    except psycopg.errors.UndefinedTable as exc:  # the sink has not migrated it yet
        raise Unavailable("database_unavailable", "the QA database has no tables yet (no sink has run)") from exc


def _unavailable(exc: Unavailable) -> web.Response:
    return web.json_response({"reason": exc.reason, "detail": exc.detail}, status=503)


# --- back-fill -----------------------------------------------------------------------------------------------

async def backfill_labels(app: web.Application) -> None:
    """Every CALLQA_BACKFILL_CHECK_EVERY_S: each label of the catalog whose text was not scored yet under the served
    model version is back-filled (a restart asks the database what ran, so nothing is scored twice)."""
    settings: Settings = app["settings"]
    backfiller = Backfiller(settings, app["text_encoder"])
    await app["reading"].wait()
    while True:
        try:
            await backfiller.run([l for l in app["board"].catalog.values() if l.get("active", True)])
        except Unavailable as exc:
            log.debug("back-fill waits: %s (%s)", exc.reason, exc.detail)
        except Exception:  # the page must stay up whatever a back-fill met
            log.exception("back-fill failed; trying again")
        await asyncio.sleep(settings.backfill_check_every_s)


class Backfiller:
    VERSION_CHECK_S = 60.0  # with nothing new to score, how often to ask which model version Triton serves

    def __init__(self, settings: Settings, encoder: TextEncoder) -> None:
        self.settings, self.encoder = settings, encoder
        self.done: set[tuple[str, str, str]] = set()  # (label id, label text, model version) scored or found scored
        self.version: str | None = None
        self.checked = 0.0

    async def run(self, catalog: list[dict]) -> None:
        texts = {l["label_id"]: render_label(l) for l in catalog}
        if (self.version is not None and time.monotonic() - self.checked < self.VERSION_CHECK_S
                and all((i, t, self.version) in self.done for i, t in texts.items())):
            return
        for start in range(0, len(catalog), 64):
            part = catalog[start:start + 64]
            vectors, self.version = await self.encoder.embed([texts[l["label_id"]] for l in part])
            self.checked = time.monotonic()
            for label, vector in zip(part, vectors):
                key = (label["label_id"], texts[label["label_id"]], self.version)
                if key not in self.done and await in_database(
                        self.settings, lambda conn: _backfill_one(conn, self.settings, label, key[1], vector, key[2])):
                    self.done.add(key)


def _backfill_one(conn, settings: Settings, label: dict, text: str, vector, version: str):
    """The back-fill of one label, unless it ran for this text and version already (then that one)."""
    ran = queries.done(conn, label["label_id"], version)
    if ran is not None and ran.label_text == text:
        return ran
    result = queries.backfill(conn, label["label_id"], label["task"], text, vector, version, settings.backfill_days,
                              settings.backfill_min_score)
    if result is not None:
        log.info("back-fill: label %s scored against %d calls of the last %g days, %d matched (%.2fs)",
                 label["label_id"], result.calls_scored, settings.backfill_days, result.calls_matched, result.seconds)
    return result


async def label_backfill(request: web.Request) -> web.Response:
    """GET /api/labels/{label_id}/backfill: the label's newest back-fill and the calls it found."""
    settings: Settings = request.app["settings"]
    label_id = request.match_info["label_id"]

    def read(conn):
        ran = queries.latest(conn, label_id)
        calls = [] if ran is None else queries.backfilled_calls(conn, label_id, ran.model_version)
        return {"label_id": label_id, "label": request.app["board"].catalog.get(label_id),
                "backfill": None if ran is None else ran.to_dict(), "calls": calls, "database": True}

    try:
        return web.json_response(await in_database(settings, read))
    except Unavailable as exc:
        return _unavailable(exc)


# --- search by meaning ----------------------------------------------------------------------------------------

async def search(request: web.Request) -> web.Response:
    """GET /api/search?q=…&limit=20[&task=…]: the stored calls nearest the sentence, embedded as a label is."""
    settings: Settings = request.app["settings"]
    text = request.query.get("q", "").strip()[:500]
    if not text:
        return web.json_response({"reason": "empty_query", "detail": "type a sentence to search for"}, status=400)
    try:
        limit = max(1, min(SEARCH_LIMIT_MAX, int(request.query.get("limit", "20"))))
    except ValueError:
        return web.json_response({"reason": "invalid_limit", "detail": "limit: a whole number"}, status=400)
    task = request.query.get("task") or None
    started = time.perf_counter()
    try:
        vectors, version = await request.app["text_encoder"].embed([render_label({"name": text})])
        results = await in_database(settings, lambda conn: queries.search(conn, vectors[0], version, task, limit))
    except Unavailable as exc:
        return _unavailable(exc)
    return web.json_response({"query": text, "model_version": version, "results": results,
                              "ms": round((time.perf_counter() - started) * 1000, 1)})


# --- agreement with the human spot checks --------------------------------------------------------------------

def agreement_report(conn, margin: float) -> dict:
    """Per 1/7/30 days, per task and label; the last model version's figure per task; the tasks whose 7 days fall
    more than `margin` below it."""
    windows = queries.agreement(conn)
    baseline = {task: b["previous_agreement"] for task, b in queries.baseline(conn).items()
                if b["previous_agreement"] is not None}
    week = {t["task"]: t["agreement"] for w in windows if w["days"] == 7 for t in w["tasks"]}
    alerts = [{"task": task, "agreement_7d": week[task], "baseline": base} for task, base in sorted(baseline.items())
              if week.get(task) is not None and week[task] < base - margin]
    return {"windows": windows, "baseline": baseline, "margin": margin, "alerts": alerts}


async def agreement(request: web.Request) -> web.Response:
    settings: Settings = request.app["settings"]
    try:
        return web.json_response(await in_database(settings, lambda conn: agreement_report(conn,
                                                                                           settings.agreement_margin)))
    except Unavailable as exc:
        return _unavailable(exc)


async def watch_agreement(app: web.Application) -> None:
    """The agreement in /metrics, every CALLQA_AGREEMENT_EVERY_S."""
    settings: Settings = app["settings"]
    while True:
        try:
            report = await in_database(settings, lambda conn: agreement_report(conn, settings.agreement_margin))
            app["metrics"].update_agreement(report)
        except Unavailable as exc:
            log.debug("agreement not measured: %s", exc.reason)
        except Exception:
            log.exception("agreement not measured")
        await asyncio.sleep(settings.agreement_every_s)


ROUTES = [web.get("/api/labels/{label_id}/backfill", label_backfill), web.get("/api/search", search),
          web.get("/api/agreement", agreement)]
