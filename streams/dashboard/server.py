"""`callqa dashboard`: the supervisors' live view and the QA alert feed, an aiohttp app that reads the output topics,
pushes updates to the pages (server-sent events) and writes acknowledgements and catalog changes to their topics."""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from pathlib import Path

import fastjsonschema
import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.core.codec import dead_letter, decode, encode, now_ms, validator
from streams.core.errors import DecodeError
from streams.core.kafka import aiokafka_config, kafka_config
from streams.core.settings import Settings
from streams.dashboard.board import READS, Board
from streams.dashboard.health import Lag, Metrics, triton_state
from streams.dashboard.sessions import LoginLimiter, Sessions

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "callqa_session"
PUBLIC = {"/login", "/healthz", "/metrics", "/static/style.css"}  # nothing here carries call content
HEALTH_EVERY_S = 2.0


# --- login -----------------------------------------------------------------------------------------------------
# The name typed at login is an operator label (it goes into acknowledgements as `acknowledged_by`), not an
# identity: everyone who has the token can log in under any name. Sessions live on the server (sessions.py).

def request_user(request: web.Request) -> str | None:
    token = request.app["token"]
    bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if bearer and hmac.compare_digest(bearer.encode(), token.encode()):
        return "api"
    return request.app["sessions"].user(request.cookies.get(COOKIE))


@web.middleware
async def require_login(request: web.Request, handler):
    if request.path in PUBLIC:
        return await handler(request)
    request["user"] = request_user(request)
    if request["user"] is None:
        if request.path.startswith(("/api/", "/events")):
            raise web.HTTPUnauthorized(text="login required")
        raise web.HTTPSeeOther("/login")
    return await handler(request)


async def login_page(request: web.Request) -> web.Response:
    return web.FileResponse(STATIC / "login.html")


async def login(request: web.Request) -> web.Response:
    limiter: LoginLimiter = request.app["login_limiter"]
    client = request.remote or "unknown"
    if not limiter.allowed(client):
        log.warning("dashboard login refused: too many failed logins from %s", client)
        raise web.HTTPTooManyRequests(text="too many failed logins; try again later")
    form = await request.post()
    user, token = str(form.get("user", "")).strip()[:64], str(form.get("token", ""))
    if not user or not hmac.compare_digest(token.encode(), request.app["token"].encode()):
        limiter.failed(client)
        log.info("dashboard login refused")
        raise web.HTTPSeeOther("/login?failed=1")
    limiter.succeeded(client)
    settings: Settings = request.app["settings"]
    response = web.HTTPSeeOther("/")
    response.set_cookie(COOKIE, request.app["sessions"].create(user), httponly=True, samesite="Strict", path="/",
                        max_age=int(settings.dashboard_session_ttl_s))
    return response


async def logout(request: web.Request) -> web.Response:
    request.app["sessions"].revoke(request.cookies.get(COOKIE))  # the old cookie reads nothing any more
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    return response


# --- pages and API -----------------------------------------------------------------------------------------------

async def index(request: web.Request) -> web.Response:
    return web.FileResponse(STATIC / "index.html")


async def snapshot(request: web.Request) -> web.Response:
    board: Board = request.app["board"]
    return web.json_response({**board.snapshot(), "user": request["user"], "health": request.app["health"]}, dumps=_dumps)


async def call_detail(request: web.Request) -> web.Response:
    settings: Settings = request.app["settings"]
    detail = request.app["board"].call_detail(request.match_info["call_id"], settings.template(), settings.summary_sentences)
    if detail is None:
        raise web.HTTPNotFound(text="unknown call")
    return web.json_response(detail, dumps=_dumps)


async def acknowledge(request: web.Request) -> web.Response:
    board: Board = request.app["board"]
    alert_id = request.match_info["alert_id"]
    if alert_id not in board.alerts:
        raise web.HTTPNotFound(text="unknown alert")
    body = await request.json() if request.can_read_body else {}
    ack = {"alert_id": alert_id, "call_id": board.alerts[alert_id]["call_id"], "acknowledged_by": request["user"],
           "acknowledged_at": now_ms()}
    if body.get("note"):
        ack["note"] = str(body["note"])[:500]
    await _send(request.app, "alert_ack", alert_id, validator("alert_ack")(ack))
    log.info("alert %s acknowledged", alert_id)
    return web.json_response(ack, dumps=_dumps)


async def add_label(request: web.Request) -> web.Response:
    body = await request.json()
    keywords = body.get("keywords", [])
    if isinstance(keywords, str):
        keywords = [k for k in keywords.replace("，", ",").split(",") if k.strip()]
    label = {"label_id": body.get("label_id", ""), "task": body.get("task"), "name": body.get("name", ""),
             "description": body.get("description", ""), "keywords": [k.strip() for k in keywords],
             "active": True, "alert": bool(body.get("alert", body.get("task") == "complaint")), "updated_at": now_ms()}
    try:
        validator("label")(label)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise web.HTTPBadRequest(text=f"invalid label: {exc.message}") from exc
    await _send(request.app, "label", label["label_id"], label)
    log.info("catalog: label %s added by the dashboard", label["label_id"])
    return web.json_response(label, dumps=_dumps)


async def set_label_active(request: web.Request) -> web.Response:
    board: Board = request.app["board"]
    label_id = request.match_info["label_id"]
    if label_id not in board.catalog:
        raise web.HTTPNotFound(text="unknown label")
    label = {**board.catalog[label_id], "active": bool((await request.json())["active"]), "updated_at": now_ms()}
    await _send(request.app, "label", label_id, label)
    log.info("catalog: label %s active=%s", label_id, label["active"])
    return web.json_response(label, dumps=_dumps)


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the snapshot first, then every update as it is read from Kafka."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    queue: asyncio.Queue = asyncio.Queue(maxsize=10000)
    clients: set = request.app["clients"]
    clients.add(queue)
    request.app["metrics"].clients.set(len(clients))
    try:
        await request.app["reading"].wait()  # pages that open during the catch-up get the whole of it
        board: Board = request.app["board"]
        first = {"type": "snapshot", "data": {**board.snapshot(), "user": request["user"], "health": request.app["health"]}}
        await response.write(b"data: " + _dumps(first).encode() + b"\n\n")
        while True:
            try:
                update = await asyncio.wait_for(queue.get(), timeout=15)
                await response.write(b"data: " + update + b"\n\n")
            except asyncio.TimeoutError:
                await response.write(b": keep-alive\n\n")  # proxies drop idle streams
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        clients.discard(queue)
        request.app["metrics"].clients.set(len(clients))
    return response


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(request.app["metrics"].registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"reading": request.app["reading"].is_set()})


# --- Kafka -------------------------------------------------------------------------------------------------------

async def _send(app: web.Application, event: str, key: str, record: dict) -> None:
    settings: Settings = app["settings"]
    await app["producer"].send_and_wait(settings.topic(event), key=key.encode(), value=encode(record))


def _broadcast(app: web.Application, update: dict) -> None:
    payload = _dumps(update).encode()
    for queue in list(app["clients"]):
        if queue.full():  # a page that stopped reading gets no more; it reconnects and takes a new snapshot
            app["clients"].discard(queue)
        else:
            queue.put_nowait(payload)


async def read_topics(app: web.Application) -> None:
    """Everything the page shows, from `dashboard_history_s` ago (the catalog and accounts: all of it) to now, then live."""
    settings: Settings = app["settings"]
    board: Board = app["board"]
    consumer = AIOKafkaConsumer(**aiokafka_config(settings), enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        by_topic = {settings.topic(event): event for event in READS}
        listed = await asyncio.get_running_loop().run_in_executor(None, topic_partitions, settings, by_topic)
        partitions = [TopicPartition(t, p) for t, p in listed]
        consumer.assign(partitions)
        since = now_ms() - settings.dashboard_history_s * 1000
        timed = [tp for tp in partitions if by_topic[tp.topic] not in ("label", "account")]
        starts = await consumer.offsets_for_times({tp: since for tp in timed})
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found is not None else (ends[tp] if tp in starts else 0))
        catching_up = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, messages in batches.items():
                for message in messages:
                    await _apply(app, board, by_topic[tp.topic], message, live=not catching_up)
            catching_up = {tp for tp in catching_up if await consumer.position(tp) < ends[tp]}
            if not catching_up and not app["reading"].is_set():
                log.info("dashboard caught up: %d calls, %d alerts, %d labels", len(board.calls), len(board.alerts), len(board.catalog))
                app["reading"].set()
    finally:
        await consumer.stop()


def topic_partitions(settings: Settings, topics) -> list[tuple[str, int]]:
    # aiokafka's consumer only keeps the metadata of topics it subscribes to; the admin client lists them all.
    metadata = AdminClient(kafka_config(settings)).list_topics(timeout=30).topics
    return [(t, p) for t in topics if t in metadata for p in metadata[t].partitions]


async def _apply(app: web.Application, board: Board, event: str, message, live: bool) -> None:
    try:
        record = decode(message.value, READS[event]).to_dict()  # the board keeps and serves the JSON form
    except DecodeError as exc:
        app["metrics"].skipped.labels(message.topic).inc()
        log.warning("skipped %s[%s]@%s: %s", message.topic, message.partition, message.offset, exc.reason)
        if event == "alert_ack":  # the dashboard is the consumer of record for acks; the worker owns the other inputs
            await app["producer"].send_and_wait(app["settings"].topic("dead_letter"), key=message.key, value=encode(
                dead_letter(message.value, message.key, message.topic, message.partition, message.offset, exc.reason, exc.detail,
                            app["settings"].dead_letter_max_bytes)))
        return
    updates = board.apply(event, record)
    if live and updates:
        for update in updates:
            _broadcast(app, update)
        app["metrics"].push.observe(max(0.0, time.time() - message.timestamp / 1000))


async def watch_health(app: web.Application) -> None:
    settings: Settings = app["settings"]
    lag = Lag(settings)
    loop = asyncio.get_running_loop()
    try:
        while True:
            health = {**app["board"].health(), "triton": await triton_state(settings.triton_url, settings.triton_model),
                      "lag": await loop.run_in_executor(None, lag.measure), "clients": len(app["clients"]), "at": now_ms()}
            app["health"] = health
            app["metrics"].update(health)
            _broadcast(app, {"type": "health", "data": health})
            await asyncio.sleep(HEALTH_EVERY_S)
    finally:
        await loop.run_in_executor(None, lag.close)


async def _background(app: web.Application):
    app["producer"] = AIOKafkaProducer(**aiokafka_config(app["settings"]), acks="all", enable_idempotence=True)
    await app["producer"].start()
    tasks = [asyncio.create_task(read_topics(app)), asyncio.create_task(watch_health(app))]
    for task in tasks:
        task.add_done_callback(_log_failure)
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await app["producer"].stop()


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("dashboard task %s failed", task.get_coro().__name__, exc_info=task.exception())


def _dumps(value) -> str:
    return orjson.dumps(value).decode()


def make_app(settings: Settings, token: str) -> web.Application:
    app = web.Application(middlewares=[require_login])
    app["settings"], app["token"], app["board"] = settings, token, Board(max_calls=settings.dashboard_max_calls)
    app["sessions"] = Sessions(ttl_s=settings.dashboard_session_ttl_s)
    app["login_limiter"] = LoginLimiter(settings.dashboard_login_max_failures, settings.dashboard_login_window_s)
    app["clients"], app["metrics"], app["reading"] = set(), Metrics(), asyncio.Event()
    app["health"] = {**app["board"].health(), "triton": "unknown", "lag": None, "clients": 0, "at": now_ms()}
    app.cleanup_ctx.append(_background)
    app.add_routes([
        web.get("/", index), web.get("/login", login_page), web.post("/login", login), web.post("/logout", logout),
        web.get("/events", events), web.get("/metrics", metrics), web.get("/healthz", healthz),
        web.get("/api/snapshot", snapshot), web.get("/api/calls/{call_id}", call_detail),
        web.post("/api/alerts/{alert_id}/ack", acknowledge),
        web.post("/api/labels", add_label), web.post("/api/labels/{label_id}/active", set_label_active),
        web.static("/static", STATIC),
    ])
    return app


def serve(settings: Settings, token: str) -> None:
    web.run_app(make_app(settings, token), host=settings.dashboard_host, port=settings.dashboard_port, print=None,
                access_log=None, shutdown_timeout=2)
