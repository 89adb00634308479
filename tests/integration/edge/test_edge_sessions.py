"""Sessions and abuse limits across edge replicas: logout, refresh rotation, login throttling,
rate limits, body size. Two real uvicorn edges share the test Redis (as replicas share theirs)."""

from __future__ import annotations

from typing import Any

import structlog
from edge_fake_oms import CLIENTS
from edge_replicas import replica

ALICE = {"login": "alice", "password": CLIENTS["alice"][0]}


async def _login(http: Any, credentials: dict[str, str] = ALICE) -> dict[str, Any]:
    response = await http.post("/api/login", json=credentials)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_logout_on_one_replica_when_token_used_on_another_then_401_revoked(
    edge, redis_client
):
    async with replica(edge) as other, edge.client() as a, other.client() as b:
        tokens = await _login(a)
        assert (
            await b.get("/api/account/summary", headers=_auth(tokens["accessToken"]))
        ).status_code == 200

        logout = await b.post("/api/logout", headers=_auth(tokens["accessToken"]))
        on_a = await a.get("/api/account/summary", headers=_auth(tokens["accessToken"]))
        refreshed = await a.post(
            "/api/token/refresh", json={"refreshToken": tokens["refreshToken"]}
        )
        fresh = await _login(a)
        fresh_ok = await b.get("/api/account/summary", headers=_auth(fresh["accessToken"]))

    assert logout.status_code == 204
    assert on_a.status_code == 401
    assert on_a.json()["code"] == "UNAUTHENTICATED"
    assert on_a.json()["details"]["cause"] == "TOKEN_REVOKED"
    assert refreshed.status_code == 401  # the session's refresh token went with it
    assert fresh_ok.status_code == 200  # a new login is a new session


async def test_refresh_when_rotated_on_another_replica_then_new_tokens_work_and_old_is_spent(
    edge, redis_client
):
    async with replica(edge) as other, edge.client() as a, other.client() as b:
        first = await _login(a)
        rotated = await b.post("/api/token/refresh", json={"refreshToken": first["refreshToken"]})
        second = rotated.json()
        summary = await a.get("/api/account/summary", headers=_auth(second["accessToken"]))
        again = await b.post("/api/token/refresh", json={"refreshToken": second["refreshToken"]})

    assert rotated.status_code == 200, rotated.text
    assert second["accountId"] == "1001"
    assert second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    assert summary.status_code == 200
    assert again.status_code == 200


async def test_refresh_when_token_reused_then_whole_family_revoked(edge, redis_client):
    async with replica(edge) as other, edge.client() as a, other.client() as b:
        first = await _login(a)
        second = (
            await a.post("/api/token/refresh", json={"refreshToken": first["refreshToken"]})
        ).json()
        # The first refresh token again (a copy in a thief's hands): the family goes.
        reused = await b.post("/api/token/refresh", json={"refreshToken": first["refreshToken"]})
        owners_access = await a.get("/api/account/summary", headers=_auth(second["accessToken"]))
        owners_refresh = await a.post(
            "/api/token/refresh", json={"refreshToken": second["refreshToken"]}
        )

    assert reused.status_code == 401
    assert reused.json()["details"]["cause"] == "REFRESH_TOKEN_REUSED"
    assert owners_access.status_code == 401
    assert owners_access.json()["details"]["cause"] == "TOKEN_REVOKED"
    assert owners_refresh.status_code == 401


async def test_refresh_when_token_unknown_then_401_and_unknown_fields_422(edge, redis_client):
    async with edge.client() as http:
        unknown = await http.post("/api/token/refresh", json={"refreshToken": "x" * 43})
        extra = await http.post(
            "/api/token/refresh", json={"refreshToken": "x" * 43, "accountId": "1002"}
        )

    assert unknown.status_code == 401
    assert unknown.json()["details"]["cause"] == "REFRESH_TOKEN_INVALID"
    assert extra.status_code == 422
    assert set(extra.json()) == {"code", "message", "details"}


async def test_login_when_failures_reach_limit_then_429_alike_for_known_and_unknown_logins(
    edge, redis_client
):
    async with (
        replica(edge, login_max_failures=3, login_max_failures_per_ip=100) as other,
        other.client() as http,
    ):
        answers: dict[str, list[Any]] = {}
        for login in ("alice", "nobody-here"):
            failures = [
                await http.post("/api/login", json={"login": login, "password": "wrong"})
                for _ in range(3)
            ]
            locked = await http.post("/api/login", json={"login": login, "password": "wrong"})
            answers[login] = [*failures, locked]
        # The right password does not open a locked login either.
        right = await http.post("/api/login", json=ALICE)
        bob = await http.post("/api/login", json={"login": "bob", "password": CLIENTS["bob"][0]})

    for login, responses in answers.items():
        assert [r.status_code for r in responses] == [401, 401, 401, 429], login
        assert int(responses[-1].headers["retry-after"]) > 0
    known, unknown = answers["alice"], answers["nobody-here"]
    assert [r.json() for r in known] == [r.json() for r in unknown]
    assert known[-1].json()["code"] == "LOGIN_THROTTLED"
    assert right.status_code == 429
    assert bob.status_code == 200  # another login from the same address is not locked


async def test_login_when_address_reaches_its_limit_then_429_for_every_login(edge, redis_client):
    async with (
        replica(edge, login_max_failures=100, login_max_failures_per_ip=4) as other,
        other.client() as http,
    ):
        failures = [
            await http.post("/api/login", json={"login": f"guess{i}", "password": "x"})
            for i in range(4)
        ]
        after = await http.post("/api/login", json=ALICE)

    assert [r.status_code for r in failures] == [401] * 4
    assert after.status_code == 429
    assert after.json()["code"] == "LOGIN_THROTTLED"


async def test_login_when_attempted_then_logged_with_address_and_agent_never_password(
    edge, redis_client
):
    with structlog.testing.capture_logs() as logs:
        async with edge.client() as http:
            await http.post(
                "/api/login",
                json={"login": "alice", "password": "wrong-pw"},
                headers={"User-Agent": "bot/1.0"},
            )
            await http.post("/api/login", json=ALICE, headers={"User-Agent": "bot/1.0"})

    attempts = [e for e in logs if e["event"] == "client_login"]
    assert [e["outcome"] for e in attempts] == ["failure", "success"]
    for entry in attempts:
        assert entry["source_ip"] == "127.0.0.1"
        assert entry["user_agent"] == "bot/1.0"
        assert entry["login"] == "alice"
        assert "wrong-pw" not in repr(entry)
        assert "alice-pw" not in repr(entry)
    assert attempts[1]["account_id"] == "1001"


async def test_rate_limit_when_reads_exceed_the_window_then_429_with_limit_headers(
    edge, redis_client
):
    async with (
        replica(edge, rate_limit_reads=3, rate_limit_window_seconds=60) as other,
        other.client() as http,
    ):
        token = (await _login(http))["accessToken"]
        reads = [await http.get("/api/account/summary", headers=_auth(token)) for _ in range(4)]
        order = await http.post(
            "/api/orders/market",
            headers=_auth(token),
            json={"symbol": "EURUSD", "side": "BUY", "volume": "0.10", "clientOrderId": "rl-1"},
        )

    assert [r.status_code for r in reads] == [200, 200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in reads] == ["2", "1", "0", "0"]
    assert all(r.headers["ratelimit-limit"] == "3" for r in reads)
    assert 0 < int(reads[-1].headers["ratelimit-reset"]) <= 60
    assert reads[-1].headers["retry-after"] == reads[-1].headers["ratelimit-reset"]
    assert reads[-1].json()["code"] == "RATE_LIMITED"
    assert order.status_code == 200  # orders count in their own window
    assert order.headers["ratelimit-limit"] == str(edge.settings.rate_limit_orders)


async def test_rate_limit_when_two_replicas_then_they_share_the_account_window(edge, redis_client):
    overrides = {"rate_limit_reads": 2, "rate_limit_window_seconds": 60}
    async with (
        replica(edge, **overrides) as a,
        replica(edge, **overrides) as b,
        a.client() as http_a,
        b.client() as http_b,
    ):
        token = (await _login(http_a))["accessToken"]
        first = await http_a.get("/api/account/positions", headers=_auth(token))
        second = await http_b.get("/api/account/positions", headers=_auth(token))
        third = await http_a.get("/api/account/positions", headers=_auth(token))

    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]


async def test_body_when_over_the_limit_then_413_in_the_error_shape(edge, alice_token):
    async with edge.client(alice_token) as http:
        big = await http.post(
            "/api/orders/market",
            content=b'{"symbol":"' + b"A" * (edge.settings.max_body_bytes + 1) + b'"}',
            headers={"Content-Type": "application/json"},
        )

        async def chunks() -> Any:
            for _ in range(edge.settings.max_body_bytes // 1024 + 2):
                yield b" " * 1024

        chunked = await http.post(
            "/api/orders/market", content=chunks(), headers={"Content-Type": "application/json"}
        )

    for response in (big, chunked):
        assert response.status_code == 413
        assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
        assert set(response.json()) == {"code", "message", "details"}
