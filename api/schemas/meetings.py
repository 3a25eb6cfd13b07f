"""Meeting bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, Field, HttpUrl, model_validator

from api.schemas.common import Output, PageParams, PartialUpdate, StrictInput
from core.models import MeetingStatus


class MeetingFields(StrictInput):
    description: str | None = Field(None, max_length=100_000)
    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None

    @model_validator(mode="after")
    def _times_ordered(self) -> Self:
        if self.start_time and self.end_time and self.end_time < self.start_time:
            raise ValueError("end_time must not be before start_time")
        return self


class MeetingCreate(MeetingFields):
    project_id: uuid.UUID
    title: str = Field(min_length=1, max_length=300)

    model_config = StrictInput.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "project_id": "6f1c1f0e-8f7a-4a59-9a57-3d0f3f7c2a11",
                    "title": "Revisión semanal",
                    "start_time": "2026-12-01T10:00:00+01:00",
                    "end_time": "2026-12-01T11:00:00+01:00",
                }
            ]
        }
    }


class MeetingUpdate(MeetingFields, PartialUpdate):
    not_nullable = frozenset({"title", "description", "status"})

    title: str | None = Field(None, min_length=1, max_length=300)
    status: MeetingStatus | None = Field(
        None, description="moves only forward: scheduled → in-progress → completed"
    )
    recording_url: HttpUrl | None = None


class MeetingRead(Output):
    id: uuid.UUID
    project_id: uuid.UUID
    title: str
    description: str
    room_id: str
    start_time: datetime | None
    end_time: datetime | None
    status: MeetingStatus
    recording_url: str | None
    recording_status: str | None
    transcript_url: str | None = Field(description="the transcript Jitsi uploaded, when it announced one")
    transcript_status: str | None
    duration_seconds: float | None = Field(
        description="from start_time to end_time; without both, from the first join to the last leave"
    )
    created_by_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class MeetingJoinRead(Output):
    room_url: str
    room_id: str
    jwt: str | None = Field(description="Jitsi JWT for the room; null when no Jitsi app secret is configured")
    moderator: bool = Field(description="true for the project's owners and editors")
    participant_id: uuid.UUID


class MeetingLeaveRead(Output):
    participant_id: uuid.UUID
    left_at: datetime
    meeting_status: MeetingStatus


class AttendanceRead(Output):
    user_id: uuid.UUID
    full_name: str
    joined_at: datetime
    left_at: datetime | None
    seconds: float | None = Field(description="time in the meeting; null while still in it")


class WebhookAck(BaseModel):
    status: Literal["processed", "duplicate", "ignored"]


class MeetingListQuery(PageParams):
    """`GET /meetings`' query string: FastAPI validates it for the route, api/hot.py below the router."""

    project_id: uuid.UUID | None = None
    status_: MeetingStatus | None = Field(None, alias="status")
    starts_after: datetime | None = None
    starts_before: datetime | None = None
