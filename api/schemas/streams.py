"""Bodies of the routes that hand out a one-stream URL (event feeds, recordings)."""

from __future__ import annotations

from pydantic import Field

from api.schemas.common import Output


class StreamLink(Output):
    url: str = Field(description="the stream's URL with a token for it (EventSource, <audio src>)")
    token: str = Field(description="the same token, for clients that build the URL themselves")
    expires_in: int = Field(description="seconds the token opens the stream for")
