"""Schema building blocks shared by every domain: strict input models, pages, money as numbers."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator
from pydantic_core import PydanticCustomError

T = TypeVar("T")


class StrictInput(BaseModel):
    """Request bodies reject unknown fields, so a typo or a mass-assignment attempt is a 422."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PartialUpdate(StrictInput):
    """An update body: absent fields stay as they are, and null clears a field only where it may be empty.

    `null` for a field listed in `not_nullable` is a 422 rather than being ignored, so that a client
    never believes it cleared something that was left unchanged.
    """

    not_nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required_fields(self) -> Self:
        given = self.model_fields_set & self.not_nullable
        nulls = sorted(name for name in given if getattr(self, name) is None)
        if nulls:
            raise PydanticCustomError(
                "null_not_allowed", "{fields} cannot be null", {"fields": ", ".join(nulls)}
            )
        return self


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
Hours = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="matching rows, ignoring limit/offset")
    limit: int
    offset: int


class PageParams(BaseModel):
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0, le=1_000_000)
    sort: str | None = Field(None, description="a field name, '-' in front for descending")
