"""The enterprise grade registry: recognitions on the specialized-new ladder, keyed by USCC.

One row per recognition as a published list states it (an enterprise, a grade, a level, the
recognising body, the day granted and the last day it holds). An enterprise climbs the ladder
(创新型中小企业 -> 专精特新中小企业 -> 专精特新“小巨人”企业), so it may hold several rows; a
recognition leaves the ladder when it lapses after ``valid_until`` or is withdrawn (撤销).
``load_policy`` reads this table: only a recognition valid on the submission date shortens SLAs.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from schemas.domain import Grade
from tierflow.db.types import EnumText, UtcDateTime


class GradeLevel(StrEnum):
    """Who recognised the grade: a province's department (省级) or the ministry (国家级)."""

    PROVINCIAL = "provincial"
    NATIONAL = "national"


NAME_LENGTH = 200  # characters of an enterprise's or a recognising unit's name
SOURCE_LENGTH = 200  # characters of an imported file's name kept with its rows


class EnterpriseGradeBase(SQLModel):
    # max_length: a longer name is a line's problem on import, not the database's refusal
    uscc: str = Field(sa_type=String(18))
    enterprise_name: str | None = Field(
        default=None, max_length=NAME_LENGTH, sa_type=String(NAME_LENGTH)
    )
    grade: Grade = Field(sa_type=EnumText(Grade))
    level: GradeLevel = Field(sa_type=EnumText(GradeLevel))
    recognised_by: str = Field(max_length=NAME_LENGTH, sa_type=String(NAME_LENGTH))
    granted_on: date
    valid_until: date | None = None  # the last day it holds (有效期至); None: no end published
    withdrawn_on: date | None = None  # from this day it no longer holds (撤销)
    withdrawal_reason: str | None = Field(default=None, sa_type=Text)


class EnterpriseGrade(EnterpriseGradeBase, table=True):
    """One recognition; a list imported twice updates the same rows (uscc, grade, level, day)."""

    __tablename__ = "enterprise_grade"
    __table_args__ = (
        UniqueConstraint("uscc", "grade", "level", "granted_on", name="uq_enterprise_grade"),
        Index("ix_enterprise_grade_uscc", "uscc"),
    )
    id: int | None = Field(default=None, primary_key=True)
    source: str | None = Field(default=None, sa_type=String(SOURCE_LENGTH))  # the file's name
    imported_at: datetime = Field(sa_type=UtcDateTime)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UtcDateTime)  # when recorded
    # who imported the row last and who recorded its withdrawal (``cli:<user>``, or the
    # admin ``TIERFLOW_OPERATOR`` names): rows of before migration 0042 have none
    imported_by: str | None = Field(default=None, sa_type=String(200))
    withdrawn_by: str | None = Field(default=None, sa_type=String(200))


class EnterpriseGradePublic(EnterpriseGradeBase):
    id: int
