"""`callqa dashboard`: the supervisors' live view and the QA alert feed, an aiohttp app that reads the output topics,
pushes updates to the pages (server-sent events) and writes acknowledgements, catalog and QA rule changes to their
topics; past calls (back-fill, search, agreement) come from the QA database (past.py)."""
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
from streams.core.records import Rule
from streams.core.rules import check_rule
from streams.core.settings import Settings
from streams.dashboard.board import READS, Board
from streams.dashboard import past
from streams.dashboard.health import Lag, Metrics, triton_state
from streams.dashboard.sessions import LoginLimiter, Sessions

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "callqa_session"
PUBLIC = {"/login", "/healthz", "/metrics", "/static/style.css"}  # nothing here carries call content
HEALTH_EVERY_S = 2.0
WHOLE_TOPICS = ("label", "account", "rule")  # compacted state, read from the start


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


# --- QA rules (callqa.rule.v1, compacted, key rule_id) ------------------------------------------------------------
# Written like the catalog: the page sends a rule, the server checks it as the worker will (schema, normalisation,
# check_rule) and produces it; the list changes when the rule comes back from the topic.

def read_rule(raw: bytes) -> Rule:
    """A rule as the worker reads it (free text normalised, then check_rule), or DecodeError with the worker's reason."""
    record = decode(raw, "rule", normalise=True)
    check_rule(record)
    return record


def valid_rule(rule: dict) -> Rule:
    return read_rule(orjson.dumps(rule))


def _refused(exc: DecodeError) -> web.Response:
    return web.json_response({"reason": exc.reason, "detail": exc.detail}, status=400, dumps=_dumps)


async def _json_object(request: web.Request) -> dict:
    """A JSON object body, sent as application/json (a cross-site form cannot send that without asking first)."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send application/json")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise DecodeError("invalid_json", str(exc)) from exc
    if not isinstance(body, dict):
        raise DecodeError("schema", "the body must be a JSON object")
    return body


async def list_rules(request: web.Request) -> web.Response:
    rules = request.app["board"].rules
    return web.json_response({"rules": [rules[r] for r in sorted(rules)]}, dumps=_dumps)


async def get_rule(request: web.Request) -> web.Response:
    rule = request.app["board"].rules.get(request.match_info["rule_id"])
    if rule is None:
        raise web.HTTPNotFound(text="unknown rule")
    return web.json_response(rule, dumps=_dumps)


async def save_rule(request: web.Request) -> web.Response:
    """Add or replace a rule (the whole rule; `updated_at` is set here, `active` is true unless sent)."""
    try:
        body = await _json_object(request)
        rule = valid_rule({"active": True, **body, "updated_at": now_ms()}).to_dict()
    except DecodeError as exc:
        return _refused(exc)
    await _send(request.app, "rule", rule["rule_id"], rule)
    log.info("rules: %s saved by %s", rule["rule_id"], request["user"])
    return web.json_response(rule, dumps=_dumps)


async def set_rule_active(request: web.Request) -> web.Response:
    rule_id = request.match_info["rule_id"]
    board: Board = request.app["board"]
    if rule_id not in board.rules:
        raise web.HTTPNotFound(text="unknown rule")
    try:
        body = await _json_object(request)
        rule = valid_rule({**board.rules[rule_id], "active": bool(body.get("active")), "updated_at": now_ms()}).to_dict()
    except DecodeError as exc:
        return _refused(exc)
    await _send(request.app, "rule", rule_id, rule)
    log.info("rules: %s active=%s by %s", rule_id, rule["active"], request["user"])
    return web.json_response(rule, dumps=_dumps)


async def delete_rule(request: web.Request) -> web.Response:
    """A tombstone: the worker's rule table, and the rule topic once compacted, forget the rule."""
    rule_id = request.match_info["rule_id"]
    if rule_id not in request.app["board"].rules:
        raise web.HTTPNotFound(text="unknown rule")
    await _send(request.app, "rule", rule_id, None)
    log.info("rules: %s deleted by %s", rule_id, request["user"])
    return web.json_response({"rule_id": rule_id, "deleted": True}, dumps=_dumps)


# --- agents ------------------------------------------------------------------------------------------------------

async def agents(request: web.Request) -> web.Response:
    """GET /api/agents?days=1|7|30 (any 1..the days kept): per agent, worst mean score first."""
    board: Board = request.app["board"]
    try:
        days = int(request.query.get("days", "7"))
    except ValueError:
        raise web.HTTPBadRequest(text="days: a whole number of days") from None
    if not 1 <= days <= board.agent_days_kept:
        raise web.HTTPBadRequest(text=f"days: 1 to {board.agent_days_kept}")
    return web.json_response({"days": days, "agents": board.agents(days)}, dumps=_dumps)


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

async def _send(app: web.Application, event: str, key: str, record: dict | None) -> None:
    """`record` None: a tombstone."""
    settings: Settings = app["settings"]
    await app["producer"].send_and_wait(settings.topic(event), key=key.encode(),
                                        value=None if record is None else encode(record))


def _broadcast(app: web.Application, update: dict) -> None:
    payload = _dumps(update).encode()
    for queue in list(app["clients"]):
        if queue.full():  # a page that stopped reading gets no more; it reconnects and takes a new snapshot
            app["clients"].discard(queue)
        else:
            queue.put_nowait(payload)


async def read_topics(app: web.Application) -> None:
    """Everything the page shows, from `dashboard_history_s` ago (scorecards from `dashboard_scorecard_history_s` ago;
    the catalog, the rules and accounts: all of it) to now, then live."""
    settings: Settings = app["settings"]
    board: Board = app["board"]
    consumer = AIOKafkaConsumer(**aiokafka_config(settings), enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        by_topic = {settings.topic(event): event for event in READS}
        listed = await asyncio.get_running_loop().run_in_executor(None, topic_partitions, settings, by_topic)
        partitions = [TopicPartition(t, p) for t, p in listed]
        consumer.assign(partitions)
        now = now_ms()
        since = {event: read_from(settings, event, now) for event in READS}
        timed = [tp for tp in partitions if since[by_topic[tp.topic]] is not None]
        starts = await consumer.offsets_for_times({tp: since[by_topic[tp.topic]] for tp in timed})
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
                log.info("dashboard caught up: %d calls, %d alerts, %d labels, %d rules, %d agent days", len(board.calls),
                         len(board.alerts), len(board.catalog), len(board.rules), len(board.agent_days))
                app["reading"].set()
    finally:
        await consumer.stop()


def read_from(settings: Settings, event: str, now: int) -> int | None:
    """Where reading an event's topic starts: a time (epoch ms), or None for all of it (the compacted state topics)."""
    if event in WHOLE_TOPICS:
        return None
    history_s = settings.dashboard_scorecard_history_s if event == "scorecard" else settings.dashboard_history_s
    return now - history_s * 1000


def topic_partitions(settings: Settings, topics) -> list[tuple[str, int]]:
    # aiokafka's consumer only keeps the metadata of topics it subscribes to; the admin client lists them all.
    metadata = AdminClient(kafka_config(settings)).list_topics(timeout=30).topics
    return [(t, p) for t in topics if t in metadata for p in metadata[t].partitions]


async def _apply(app: web.Application, board: Board, event: str, message, live: bool) -> None:
    if event == "rule" and message.value is None:  # a tombstone: the rule is deleted
        updates = board.remove("rule", message.key.decode("utf-8", "replace")) if message.key else []
        _push(app, message, updates, live)
        return
    try:
        if event == "rule":  # read as the worker reads it: a rule it refuses (a dead letter there) is not in force
            record = read_rule(message.value).to_dict()
            if message.key is not None and message.key != record["rule_id"].encode():
                raise DecodeError("key_mismatch", f"key {message.key[:128]!r} is not rule_id {record['rule_id']!r}")
        else:
            record = decode(message.value, READS[event]).to_dict()  # the board keeps and serves the JSON form
    except DecodeError as exc:
        app["metrics"].skipped.labels(message.topic).inc()
        log.warning("skipped %s[%s]@%s: %s", message.topic, message.partition, message.offset, exc.reason)
        if event == "alert_ack":  # the dashboard is the consumer of record for acks; the worker owns the other inputs
            await app["producer"].send_and_wait(app["settings"].topic("dead_letter"), key=message.key, value=encode(
                dead_letter(message.value, message.key, message.topic, message.partition, message.offset, exc.reason, exc.detail,
                            app["settings"].dead_letter_max_bytes)))
        return
    _push(app, message, board.apply(event, record), live)


def _push(app: web.Application, message, updates: list[dict], live: bool) -> None:
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
    app["text_encoder"] = past.TextEncoder(app["settings"])
    tasks = [asyncio.create_task(read_topics(app)), asyncio.create_task(watch_health(app)),
             asyncio.create_task(past.backfill_labels(app)), asyncio.create_task(past.watch_agreement(app))]
    for task in tasks:
        task.add_done_callback(_log_failure)
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await app["producer"].stop()
    await app["text_encoder"].close()


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("dashboard task %s failed", task.get_coro().__name__, exc_info=task.exception())


def _dumps(value) -> str:
    return orjson.dumps(value).decode()


def make_app(settings: Settings, token: str) -> web.Application:
    app = web.Application(middlewares=[require_login])
    board = Board(max_calls=settings.dashboard_max_calls, utc_offset_h=settings.dashboard_utc_offset_h,
                  agent_days_kept=max(1, -(-settings.dashboard_scorecard_history_s // 86400)))  # whole days, rounded up
    app["settings"], app["token"], app["board"] = settings, token, board
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
        web.get("/api/rules", list_rules), web.post("/api/rules", save_rule), web.get("/api/rules/{rule_id}", get_rule),
        web.post("/api/rules/{rule_id}/active", set_rule_active), web.delete("/api/rules/{rule_id}", delete_rule),
        web.get("/api/agents", agents), *past.ROUTES,
        web.static("/static", STATIC),
    ])
    return app


def serve(settings: Settings, token: str) -> None:
    web.run_app(make_app(settings, token), host=settings.dashboard_host, port=settings.dashboard_port, print=None,
                access_log=None, shutdown_timeout=2)
