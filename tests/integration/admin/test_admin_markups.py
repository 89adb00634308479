"""Client group markups through admin: REST and gRPC routes, roles, audit, bad input.

quotes's real group markup servicer stands behind admin (conftest), on the session database; each
test uses its own symbol and group and removes them, so no shared state changes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from conftest import bearer

from admin.domain import Role
from fxmesh.v1 import admin_markups_pb2, quotes_markups_pb2


@pytest.fixture
async def symbol(admin) -> AsyncIterator[str]:
    """A fresh symbol quotes prices (a row of quotes.symbol_settings), removed afterwards."""
    name = f"MK{uuid.uuid4().hex[:8].upper()}"
    await admin.pool.execute(
        "INSERT INTO quotes.symbol_settings (symbol, digits, max_spread_points) VALUES ($1, 5, 500)",
        name,
    )
    try:
        yield name
    finally:
        await admin.pool.execute("DELETE FROM quotes.symbol_settings WHERE symbol = $1", name)


def _group() -> str:
    return f"grp-{uuid.uuid4().hex[:8]}"


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


async def test_put_markup_when_risk_manager_sets_and_changes_then_listed_and_audited(admin, symbol):
    group = _group()
    token = await admin.token_of(Role.RISK_MANAGER)
    async with admin.http(token) as http:
        first = await http.put(
            f"/admin/markups/{group}/{symbol}",
            json={"unit": "POINTS", "markupBid": "3", "markupAsk": "7.5", "minSpreadPoints": 12},
        )
        assert first.status_code == 200, first.text
        assert first.json()["markup"] | {"updateTime": None} == {
            "clientGroup": group,
            "symbol": symbol,
            "unit": "POINTS",
            "markupBid": "3",
            "markupAsk": "7.5",
            "minSpreadPoints": 12,
            "updateTime": None,
        }
        second = await http.put(
            f"/admin/markups/{group}/{symbol.lower()}",
            json={"unit": "PERCENT", "markupBid": "0.05", "markupAsk": "0.05"},
        )
        assert second.status_code == 200, second.text
        listed = await http.get("/admin/markups", params={"group": group})
    assert [(m["symbol"], m["unit"], m["markupBid"]) for m in listed.json()["markups"]] == [
        (symbol, "PERCENT", "0.05")
    ]
    row = await admin.last_audit("markups.set")
    assert row["target"] == f"markup:{group}/{symbol}"
    before, after = _json(row["before"]), _json(row["after"])
    assert (before["unit"], before["markupAsk"]) == ("POINTS", "7.5")
    assert (after["unit"], after["markupAsk"], after["minSpreadPoints"]) == ("PERCENT", "0.05", 0)

    async with admin.http(token) as http:
        removed = await http.delete(f"/admin/markups/{group}/{symbol}")
        again = await http.delete(f"/admin/markups/{group}/{symbol}")
        listed = await http.get("/admin/markups", params={"group": group})
    assert removed.status_code == 200
    assert removed.json()["markup"]["unit"] == "PERCENT"
    assert again.status_code == 404
    assert again.json()["code"] == "MARKUP_NOT_FOUND"
    assert listed.json()["markups"] == []
    row = await admin.pool.fetchrow(
        "SELECT * FROM admin.audit_log WHERE action = 'markups.delete' AND target = $1 "
        "AND outcome = 'ALLOWED'",
        f"markup:{group}/{symbol}",
    )
    assert _json(row["before"])["markupBid"] == "0.05"
    assert row["after"] is None


async def test_put_markup_when_symbol_unknown_then_404(admin):
    token = await admin.token_of(Role.ADMIN)
    async with admin.http(token) as http:
        response = await http.put(
            f"/admin/markups/{_group()}/NOSUCHSYM",
            json={"unit": "POINTS", "markupBid": "1", "markupAsk": "1"},
        )
    assert response.status_code == 404
    assert response.json()["code"] == "UNKNOWN_SYMBOL"


@pytest.mark.parametrize(
    "body",
    [
        {"unit": "POINTS", "markupBid": "-1", "markupAsk": "1"},
        {"unit": "POINTS", "markupBid": "1", "markupAsk": "-0.5"},
        {"unit": "POINTS", "markupBid": "1", "markupAsk": "1", "minSpreadPoints": -2},
        {"unit": "PIPS", "markupBid": "1", "markupAsk": "1"},
        {"unit": "POINTS", "markupBid": "abc", "markupAsk": "1"},
        {"unit": "POINTS", "markupBid": "1"},
    ],
)
async def test_put_markup_when_body_bad_then_422_and_nothing_stored(admin, symbol, body):
    group = _group()
    token = await admin.token_of(Role.SUPER_ADMIN)
    async with admin.http(token) as http:
        response = await http.put(f"/admin/markups/{group}/{symbol}", json=body)
        listed = await http.get("/admin/markups", params={"group": group})
    assert response.status_code == 422, response.text
    assert listed.json()["markups"] == []


async def test_put_markup_when_percent_not_below_100_then_refused_by_quotes(admin, symbol):
    token = await admin.token_of(Role.ADMIN)
    async with admin.http(token) as http:
        response = await http.put(
            f"/admin/markups/{_group()}/{symbol}",
            json={"unit": "PERCENT", "markupBid": "100", "markupAsk": "1"},
        )
    assert 400 <= response.status_code < 500
    assert response.json()["code"] == "INVALID_MARKUP"


async def test_put_markup_when_group_name_bad_then_refused(admin, symbol):
    token = await admin.token_of(Role.ADMIN)
    async with admin.http(token) as http:
        response = await http.put(
            f"/admin/markups/bad group!/{symbol}",
            json={"unit": "POINTS", "markupBid": "1", "markupAsk": "1"},
        )
    assert 400 <= response.status_code < 500
    assert response.json()["code"] == "INVALID_CLIENT_GROUP"


async def test_put_markup_when_support_then_403(admin, symbol):
    token = await admin.token_of(Role.SUPPORT)
    async with admin.http(token) as http:
        response = await http.put(
            f"/admin/markups/{_group()}/{symbol}",
            json={"unit": "POINTS", "markupBid": "1", "markupAsk": "1"},
        )
        listed = await http.get("/admin/markups")
    assert response.status_code == 403
    assert listed.status_code == 200


async def test_grpc_set_and_delete_markup_then_listed_then_gone(admin, admin_stub, symbol):
    group = _group()
    token = await admin.token_of(Role.RISK_MANAGER)
    markup = quotes_markups_pb2.GroupMarkup(
        client_group=group,
        symbol=symbol,
        unit=quotes_markups_pb2.MARKUP_UNIT_POINTS,
        markup_bid="2",
        markup_ask="4",
    )
    reply = await admin_stub.SetMarkup(
        admin_markups_pb2.SetMarkupRequest(markup=markup), metadata=bearer(token), timeout=10
    )
    assert (reply.markup.markup_bid, reply.markup.markup_ask) == ("2", "4")
    listed = await admin_stub.ListMarkups(
        admin_markups_pb2.ListMarkupsRequest(client_group=group), metadata=bearer(token), timeout=10
    )
    assert [m.symbol for m in listed.markups] == [symbol]
    await admin_stub.DeleteMarkup(
        admin_markups_pb2.DeleteMarkupRequest(client_group=group, symbol=symbol),
        metadata=bearer(token),
        timeout=10,
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await admin_stub.DeleteMarkup(
            admin_markups_pb2.DeleteMarkupRequest(client_group=group, symbol=symbol),
            metadata=bearer(token),
            timeout=10,
        )
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    bad = quotes_markups_pb2.GroupMarkup()
    bad.CopyFrom(markup)
    bad.markup_bid = "-1"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await admin_stub.SetMarkup(
            admin_markups_pb2.SetMarkupRequest(markup=bad), metadata=bearer(token), timeout=10
        )
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
