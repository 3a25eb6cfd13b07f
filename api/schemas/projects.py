"""Project, member and stats bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Self

from pydantic import EmailStr, Field, model_validator

from api.schemas.common import Hours, Money, Output, PageParams, PartialUpdate, StrictInput
from core.models import MemberRole, Priority, ProjectStatus


class ProjectFields(StrictInput):
    description: str | None = Field(None, max_length=100_000)
    status: ProjectStatus | None = None
    progress: int | None = Field(None, ge=0, le=100)
    priority: Priority | None = None
    start_date: date | None = None
    end_date: date | None = None
    deadline: date | None = None
    budget: Decimal | None = Field(None, ge=0, le=Decimal("999999999999.99"), decimal_places=2)
    hourly_rate: Decimal | None = Field(None, ge=0, le=Decimal("99999999.99"), decimal_places=2)
    estimated_hours: Decimal | None = Field(None, ge=0, le=Decimal("99999999.99"), decimal_places=2)
    actual_hours: Decimal | None = Field(None, ge=0, le=Decimal("99999999.99"), decimal_places=2)
    client_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _dates_ordered(self) -> Self:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        return self


class ProjectCreate(ProjectFields):
    title: str = Field(min_length=1, max_length=200)

    model_config = StrictInput.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "title": "Web corporativa",
                    "description": "Rediseño de la web de Acme",
                    "status": "in-progress",
                    "progress": 30,
                    "start_date": "2026-01-10",
                    "end_date": "2026-06-30",
                    "budget": 12000,
                    "hourly_rate": 60,
                    "estimated_hours": 200,
                }
            ]
        }
    }


class ProjectUpdate(ProjectFields, PartialUpdate):
    not_nullable = frozenset({"title", "description", "status", "progress", "priority", "actual_hours"})

    title: str | None = Field(None, min_length=1, max_length=200)


class ProjectRead(Output):
    id: uuid.UUID
    title: str
    description: str
    status: ProjectStatus
    progress: int
    priority: Priority
    start_date: date | None
    end_date: date | None
    deadline: date | None
    budget: Money | None
    hourly_rate: Money | None
    estimated_hours: Hours | None
    actual_hours: Hours
    client_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class ProjectStats(Output):
    project_id: uuid.UUID
    progress: int
    meetings_total: int
    meetings_completed: int
    meetings_upcoming: int
    meeting_hours: float = Field(description="hours of completed meetings")
    documents: int
    members: int
    estimated_hours: float | None
    actual_hours: float
    hours_burn: float | None = Field(description="actual / estimated hours")
    cost: float | None = Field(description="actual hours × hourly rate")
    budget: float | None
    budget_burn: float | None = Field(description="cost / budget")
    time_elapsed: float | None = Field(description="share of start→end already elapsed, 0..1")
    schedule_variance: float | None = Field(description="progress share minus time elapsed; < 0 is behind")
    days_to_deadline: int | None


class MemberAdd(StrictInput):
    user_id: uuid.UUID | None = None
    email: EmailStr | None = None
    role: MemberRole = MemberRole.VIEWER

    @model_validator(mode="after")
    def _one_identifier(self) -> Self:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of user_id or email")
        return self


class MemberRead(Output):
    user_id: uuid.UUID
    email: str
    full_name: str
    role: MemberRole
    created_at: datetime


class ProjectListQuery(PageParams):
    """`GET /projects`' query string: FastAPI validates it for the route, api/hot.py below the router."""

    status_: ProjectStatus | None = Field(None, alias="status")
    priority: Priority | None = None
    client_id: uuid.UUID | None = None
    q: str | None = Field(None, max_length=200, description="title contains")
