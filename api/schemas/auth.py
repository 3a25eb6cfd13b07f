"""Auth request and response bodies."""

from __future__ import annotations

from pydantic import EmailStr, Field

from api.schemas.common import Output, StrictInput


class RegisterIn(StrictInput):
    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    full_name: str = Field("", max_length=200)

    # Passwords keep their spaces: whitespace is part of a password.
    model_config = StrictInput.model_config | {
        "str_strip_whitespace": False,
        "json_schema_extra": {
            "examples": [
                {"email": "ana@example.com", "password": "correct horse battery", "full_name": "Ana"}
            ]
        },
    }


class LoginIn(StrictInput):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)

    model_config = StrictInput.model_config | {
        "str_strip_whitespace": False,
        "json_schema_extra": {
            "examples": [{"email": "ana@example.com", "password": "correct horse battery"}]
        },
    }


class RefreshIn(StrictInput):
    refresh_token: str = Field(min_length=10, max_length=200)


class TokenPair(Output):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)
    expires_in: int = Field(description="seconds until the access token expires")
