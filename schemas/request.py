"""What an enterprise asks for, and who acts on it."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from schemas.domain import Category, Priority, Role, Tier
from schemas.edge import (
    ATTACHMENT_NAME_BYTES,
    DESCRIPTION_BYTES,
    MEDIA_TYPE_BYTES,
    SHORT_BYTES,
    SUBJECT_BYTES,
    URL_BYTES,
    check_name,
    check_no_control,
    check_not_blank,
    check_submitted_at,
    check_web_link,
    edge_rule,
    limit,
    text_rule,
)
from schemas.enterprise import Enterprise

REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class Actor(BaseModel):
    """Whoever performs an action: a caseworker, a system client, the enterprise, the engine.

    The edge that authenticated the caller fills this in (an API token's user, a console
    session, a Kafka system client); the workflow checks it against ``schemas.permissions``.
    ``tier``/``division_code`` are a supervisor's scope, ``grants`` a system client's
    commands, ``via`` the system client that acted on this person's behalf.
    """

    id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=100,
            description="Who acts: a user, a system client; an enterprise by its unified "
            "social credit code, on its own requests only",
        ),
        edge_rule(check_name),
    ]
    role: Role
    institution_id: Annotated[str | None, Field(max_length=64), edge_rule(check_no_control)] = None
    tier: Tier | None = None
    division_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    grants: list[str] = Field(default_factory=list, max_length=64)
    via: Annotated[str | None, Field(max_length=100), edge_rule(check_name)] = None


SYSTEM_ACTOR = Actor(id="tierflow", role=Role.SYSTEM)


class Attachment(BaseModel):
    """Metadata of a document attached to a request or one of its steps; the content lives
    elsewhere."""

    name: Annotated[
        str,
        limit(ATTACHMENT_NAME_BYTES, 1),
        text_rule(ATTACHMENT_NAME_BYTES),
        edge_rule(check_not_blank),
    ]
    media_type: Annotated[str, limit(MEDIA_TYPE_BYTES), text_rule(MEDIA_TYPE_BYTES)] = (
        "application/octet-stream"
    )
    size_bytes: int = Field(default=0, ge=0)
    url: Annotated[
        str | None, limit(URL_BYTES), text_rule(URL_BYTES), edge_rule(check_web_link)
    ] = None


class AttachmentOut(BaseModel):
    """A document as the read model keeps it: the edge checked it when it came, so reading it
    back judges nothing again (a rule tightened later leaves what was kept readable)."""

    name: str
    media_type: str = "application/octet-stream"
    size_bytes: int = 0
    url: str | None = None


class RequestInput(BaseModel):
    """A new service request: the input of one ServiceRequestWorkflow."""

    def content_digest(self) -> str:
        """SHA-256 of what was asked, without who relayed it or when: a redelivered or retried
        submit has the same digest, a different request reusing the id does not."""
        content = self.model_dump(mode="json", exclude={"submitted_by", "submitted_at"})
        canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    enterprise: Enterprise
    category: Category
    priority: Priority = Priority.NORMAL
    subject: Annotated[
        str, limit(SUBJECT_BYTES, 1), text_rule(SUBJECT_BYTES), edge_rule(check_not_blank)
    ]
    description: Annotated[str, limit(DESCRIPTION_BYTES), text_rule(DESCRIPTION_BYTES)] = ""
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)
    channel: Annotated[str, limit(SHORT_BYTES), text_rule(SHORT_BYTES)] = "portal"
    submitted_by: Actor = Field(
        default_factory=lambda: Actor(id="enterprise-portal", role=Role.SYSTEM)
    )
    submitted_at: Annotated[datetime | None, edge_rule(check_submitted_at)] = Field(
        default=None,
        description="When the enterprise submitted, with a time zone; not before the first "
        "SLA policy nor after now (5 minutes' skew). Shown only: SLA clocks and the calendar "
        "follow the workflow's own clock. The workflow start if unset",
    )
