"""Response classes of the API."""

from __future__ import annotations

from starlette.responses import Response


class JsonBytes(Response):
    """A body already serialised to JSON (api/services/reads.py): sent as it is, where FastAPI would
    validate the returned object against the route's response model and serialise it again."""

    media_type = "application/json"
