"""The past-call endpoints (back-fill, search, agreement) over HTTP with the dashboard's own app: against a real
PostgreSQL with the migrations applied, a text encoder that stands in for Triton only where a vector is needed (its
vector is given, the way Triton's would be), and against a database that does not answer."""
import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import DAY_MS, NOW, NOW_MS, final_attribution, item, stored_call, unit

from streams.core.settings import Settings
from streams.dashboard import past
from streams.dashboard.health import Metrics
from streams.dashboard.server import COOKIE, make_app
from streams.qadb import queries
from streams.qadb.migrate import migrate
from streams.qadb.store import connect, write

TOKEN = "t0ken-for-the-test"


class GivenVectors:
    """Returns the vector it was given for each text (the search's sentence), under model version 3."""

    def __init__(self, vector) -> None:
        self.vector = np.asarray(vector, dtype=np.float32)

    async def embed(self, texts):
        return np.stack([self.vector] * len(texts)), "3"


async def client(settings: Settings, encoder=None) -> TestClient:
    app = make_app(settings, TOKEN)
    app.cleanup_ctx.clear()  # no Kafka, no background tasks
    app["text_encoder"] = encoder or GivenVectors([1.0, 0.0, 0.0])
    test_client = TestClient(TestServer(app))
    await test_client.start_server()
    return test_client


async def login(c: TestClient) -> dict:
    response = await c.post("/login", data={"user": "质检员小王", "token": TOKEN}, allow_redirects=False)
    return {COOKIE: response.cookies[COOKIE].value}


@pytest.fixture
def stored(database_url):
    """Two calls' complaint vectors and final attributions, and a back-fill of a new label over them."""
    with connect(database_url) as conn:
        migrate(conn)
        stored_call(conn, "near", unit(1, 0.1, 0), "complaint.billing", score=0.5, human="complaint.billing", offset=1)
        stored_call(conn, "far", unit(0, 0, 1), "complaint.billing", score=0.5, human="complaint.network", offset=2)
        queries.backfill(conn, "complaint.5g", "complaint", "5G套餐投诉", unit(1, 0, 0), "3", days=30, now=NOW)
    return database_url


@pytest.mark.asyncio
async def test_backfill_search_and_agreement_answer_from_the_database(stored):
    c = await client(Settings(database_url=stored))
    try:
        cookies = await login(c)
        found = await (await c.get("/api/labels/complaint.5g/backfill", cookies=cookies)).json()
        assert found["backfill"]["calls_matched"] == 1 and [x["call_id"] for x in found["calls"]] == ["near"]
        assert (await (await c.get("/api/labels/complaint.unknown/backfill", cookies=cookies)).json())["backfill"] is None

        searched = await (await c.get("/api/search?q=%E5%A5%97%E9%A4%90&limit=1", cookies=cookies)).json()
        assert [r["call_id"] for r in searched["results"]] == ["near"] and searched["model_version"] == "3"
        empty = await c.get("/api/search?q=%20", cookies=cookies)
        assert empty.status == 400 and (await empty.json())["reason"] == "empty_query"

        report = await (await c.get("/api/agreement", cookies=cookies)).json()
        week = {w["days"]: w for w in report["windows"]}[7]
        assert week["tasks"] == [{"task": "complaint", "checked": 2, "agreed": 1, "agreement": 0.5}]
        assert report["alerts"] == [] and report["margin"] == 0.05
    finally:
        await c.close()


@pytest.mark.asyncio
async def test_a_database_that_does_not_answer_is_said_so():
    from streams.tools.stack import free_port

    c = await client(Settings(database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/none"))
    try:
        cookies = await login(c)
        for path in ("/api/labels/complaint.x/backfill", "/api/search?q=x", "/api/agreement"):
            response = await c.get(path, cookies=cookies)
            assert response.status == 503 and (await response.json())["reason"] == "database_unavailable", path
    finally:
        await c.close()


def test_an_agreement_drop_sets_the_alert_gauge():
    metrics = Metrics()
    metrics.update_agreement({"windows": [{"days": 7, "tasks": [{"task": "complaint", "checked": 10, "agreed": 5,
                                                                 "agreement": 0.5}], "labels": []}],
                              "baseline": {"complaint": 0.7, "product": 0.8},
                              "alerts": [{"task": "complaint", "agreement_7d": 0.5, "baseline": 0.7}]})
    from prometheus_client import generate_latest

    text = generate_latest(metrics.registry).decode()
    assert 'callqa_human_agreement{days="7",task="complaint"} 0.5' in text
    assert 'callqa_human_agreement_alert{task="complaint"} 1.0' in text
    assert 'callqa_human_agreement_alert{task="product"} 0.0' in text


def test_the_report_alerts_when_seven_days_fall_below_the_last_model(database_url):
    with connect(database_url) as conn:
        migrate(conn)
        for n in range(4):  # the newest model (3) gets 1 of 4 right; the one before (2) got all 4
            stored_call(conn, f"c{n}", unit(1, 0), "complaint.a" if n == 0 else "complaint.b", 0.5, days_ago=2,
                        human="complaint.a", offset=n)
            write(conn, [item("attribution", final_attribution(f"c{n}", "complaint", "complaint.a",
                                                               NOW_MS - 3 * DAY_MS, "2"))])
        report = past.agreement_report(conn, margin=0.05)
    assert report["baseline"] == {"complaint": 1.0}
    assert report["alerts"] == [{"task": "complaint", "agreement_7d": 0.25, "baseline": 1.0}]
