"""Client bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import EmailStr, Field

from api.schemas.common import Output, PartialUpdate, StrictInput
from core.models import ClientStatus, Priority


class ClientBase(StrictInput):
    company: str | None = Field(None, max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(None, max_length=50, pattern=r"^[0-9+() .\-]{3,50}$")
    address: str | None = Field(None, max_length=500)
    city: str | None = Field(None, max_length=100)
    country: str | None = Field(None, max_length=100)
    status: ClientStatus | None = None
    priority: Priority | None = None


class ClientCreate(ClientBase):
    name: str = Field(min_length=1, max_length=200)

    model_config = StrictInput.model_config | {
        "json_schema_extra": {
            "examples": [
                {"name": "Acme", "company": "Acme S.A.", "email": "hola@acme.es", "status": "active"}
            ]
        }
    }


class ClientUpdate(ClientBase, PartialUpdate):
    not_nullable = frozenset({"name", "status", "priority"})

    name: str | None = Field(None, min_length=1, max_length=200)


class ClientRead(Output):
    id: uuid.UUID
    name: str
    company: str | None
    email: str | None
    phone: str | None
    address: str | None
    city: str | None
    country: str | None
    status: ClientStatus
    priority: Priority
    created_by_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
