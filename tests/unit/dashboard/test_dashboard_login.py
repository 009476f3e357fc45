"""Logging in and out over HTTP, with the dashboard's own app (no Kafka: its background readers are left out)."""
import pytest
from aiohttp.test_utils import TestClient, TestServer

from streams.core.settings import Settings
from streams.dashboard.server import COOKIE, make_app

TOKEN = "t0ken-for-the-test"


async def client(**settings) -> TestClient:
    app = make_app(Settings(**settings), TOKEN)
    app.cleanup_ctx.clear()  # no producer, no topic readers
    test_client = TestClient(TestServer(app))
    await test_client.start_server()
    return test_client


async def log_in(c: TestClient, token: str = TOKEN):
    return await c.post("/login", data={"user": "质检员小王", "token": token}, allow_redirects=False)


@pytest.mark.asyncio
async def test_logout_ends_the_session_on_the_server():
    """Issue 17: after logging out, the old cookie still read /api/snapshot."""
    c = await client()
    try:
        response = await log_in(c)
        assert response.status == 303
        cookie = response.cookies[COOKIE].value
        snapshot = await c.get("/api/snapshot", cookies={COOKIE: cookie})
        assert snapshot.status == 200 and (await snapshot.json())["user"] == "质检员小王"
        await c.post("/logout", cookies={COOKIE: cookie}, allow_redirects=False)
        c.session.cookie_jar.clear()
        assert (await c.get("/api/snapshot", cookies={COOKIE: cookie})).status == 401
    finally:
        await c.close()


@pytest.mark.asyncio
async def test_a_session_expires():
    c = await client(dashboard_session_ttl_s=0.0)
    try:
        cookie = (await log_in(c)).cookies[COOKIE].value
        c.session.cookie_jar.clear()
        assert (await c.get("/api/snapshot", cookies={COOKIE: cookie})).status == 401
    finally:
        await c.close()


@pytest.mark.asyncio
async def test_failed_logins_are_limited():
    c = await client(dashboard_login_max_failures=3)
    try:
        for _ in range(3):
            response = await log_in(c, token="wrong")
            assert response.status == 303 and "failed=1" in response.headers["Location"]
        assert (await log_in(c, token="wrong")).status == 429
        assert (await log_in(c)).status == 429  # the right token too, until the window passes
    finally:
        await c.close()
