"""What an enterprise asks for, and who acts on it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from schemas.domain import Category, Priority, Role
from schemas.enterprise import Enterprise

REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class Actor(BaseModel):
    """Whoever performs an action: a caseworker, a system client, the enterprise, the engine."""

    id: str = Field(min_length=1, max_length=100)
    role: Role
    institution_id: str | None = Field(default=None, max_length=64)


SYSTEM_ACTOR = Actor(id="tierflow", role=Role.SYSTEM)


class Attachment(BaseModel):
    """Metadata of a document the enterprise attached; the content lives elsewhere."""

    name: str = Field(min_length=1, max_length=255)
    media_type: str = Field(default="application/octet-stream", max_length=100)
    size_bytes: int = Field(default=0, ge=0)
    url: str | None = Field(default=None, max_length=1000)


class RequestInput(BaseModel):
    """A new service request: the input of one ServiceRequestWorkflow."""

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    enterprise: Enterprise
    category: Category
    priority: Priority = Priority.NORMAL
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)
    channel: str = Field(default="portal", max_length=40)
    submitted_by: Actor = Field(
        default_factory=lambda: Actor(id="enterprise-portal", role=Role.SYSTEM)
    )
    submitted_at: datetime | None = Field(
        default=None, description="When the enterprise submitted; the workflow start if unset"
    )
