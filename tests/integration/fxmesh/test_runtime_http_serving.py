"""How edge and admin serve HTTP (``fxmesh.http.HttpServing``) against a real uvicorn on port 0:
listening once started, the lifespan run both ways. (A lifespan that fails makes uvicorn exit the
process, so it is not tried in the test process.)"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from fxmesh.http import HttpServing, http_server


def app_with_lifespan(journal: list[str]) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        journal.append("opened")
        yield
        journal.append("closed")

    app = FastAPI(lifespan=lifespan)

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


async def test_start_then_port_answers_after_lifespan_and_stop_ends_it() -> None:
    journal: list[str] = []
    exits: list[str] = []
    serving = HttpServing(
        http_server(app_with_lifespan(journal), "127.0.0.1:0"),
        "test-http",
        on_exit=lambda: exits.append("exited"),
    )

    port = await serving.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        answer = await http.get("/ping")
    opened = list(journal)
    await serving.stop()

    assert answer.json() == {"ok": True}
    assert opened == ["opened"]
    assert journal == ["opened", "closed"]
    assert exits == ["exited"]
