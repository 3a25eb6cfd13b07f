"""Which language a response's words are in: `?lang=`, else the Accept-Language header, else Spanish."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from core.i18n import Language, negotiate


def request_language(
    request: Request,
    lang: Annotated[
        Language | None,
        Query(description="language of the words the API writes (es, en); default: Accept-Language, else es"),
    ] = None,
) -> Language:
    return lang or negotiate(request.headers.get("accept-language"))


RequestLanguage = Annotated[Language, Depends(request_language)]
