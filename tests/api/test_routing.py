"""The API's router class (api/routing.py) answers like FastAPI's, only sooner: every route is still
reached, and a path outside a router's prefix is not one of its routes."""

from __future__ import annotations

import re
import uuid

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.app import api_routers
from api.routes import health
from api.routing import API_PREFIX, ApiRouter

PARAM = re.compile(r"{(\w+)(?::\w+)?}")


async def test_every_route_of_the_app_is_still_reached(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Unauthenticated requests to every route: whatever they answer (401, 422…), it is the route's own
    answer, not the router's 404 or 405."""
    reached = 0
    for prefix, router in [("", health.router), *((API_PREFIX, router) for router in api_routers())]:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            path = PARAM.sub(lambda m: "1" if m.group(1) == "chunk_id" else str(uuid.uuid4()), route.path)
            for method in route.methods - {"HEAD"}:
                if "events" in path or "/stream/" in path:
                    continue  # streams: 401 without a token, but a wrong one would stream
                r = await client.request(method, prefix + path)
                routed = not (r.status_code == 404 and r.json()["error"]["message"] == "Not Found")
                assert routed and r.status_code != 405, (method, prefix + path, r.status_code, r.text)
                reached += 1
    assert reached > 60


async def test_a_path_outside_the_prefix_is_no_match_and_inside_it_is_fastapis_answer() -> None:
    router = ApiRouter(prefix="/things")

    @router.get("/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app = FastAPI()
    app.include_router(router, prefix=API_PREFIX)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get(f"{API_PREFIX}/things/7")).json() == {"id": 7}
        assert (await http.get(f"{API_PREFIX}/things/x")).status_code == 422  # matched, then validated
        assert (await http.post(f"{API_PREFIX}/things/7")).status_code == 405  # matched by path
        assert (await http.get(f"{API_PREFIX}/others/7")).status_code == 404
        assert (await http.get("/things/7")).status_code == 404
    # Behind a root path the check steps aside and FastAPI matches as usual.
    rooted = httpx.ASGITransport(app=app, root_path="/v")
    async with httpx.AsyncClient(transport=rooted, base_url="http://test") as http:
        assert (await http.get(f"/v{API_PREFIX}/things/7")).json() == {"id": 7}
