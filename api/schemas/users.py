"""User bodies. Only admins may set is_admin / is_active; passwords and hashes never leave the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import EmailStr, Field, HttpUrl, StringConstraints

from api.schemas.common import Output, PartialUpdate, StrictInput

# Whitespace is part of a password, so it is kept (other strings are stripped).
Password = Annotated[str, StringConstraints(strip_whitespace=False, min_length=8, max_length=256)]


class UserRead(Output):
    id: uuid.UUID
    email: str
    full_name: str
    avatar_url: str | None
    is_active: bool
    is_admin: bool
    created_at: datetime
    updated_at: datetime


class UserCreate(StrictInput):
    email: EmailStr
    password: Password | None = None
    full_name: str = Field("", max_length=200)
    is_admin: bool = False


class UserUpdate(PartialUpdate):
    not_nullable = frozenset({"full_name", "password", "is_admin", "is_active"})

    full_name: str | None = Field(None, max_length=200)
    avatar_url: HttpUrl | None = None
    password: Password | None = None
    is_admin: bool | None = Field(None, description="admins only")
    is_active: bool | None = Field(None, description="admins only")


class UserStats(Output):
    user_id: uuid.UUID
    projects: int
    projects_owned: int
    meetings_attended: int
    chat_messages: int
