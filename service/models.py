"""The API's request bodies and parameters, validated at the edge."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.:/@+-]*$"  # a doit task name: never an option or var=value
_REF = r"^[A-Za-z0-9_][A-Za-z0-9_./@^~+-]*$"  # a commit or branch: never an option

Status = Literal["pending", "running", "success", "failed", "cancelled"]


class ProjectCreate(BaseModel):
    """A repository to register: its path, or a git URL (and branch) to clone."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    path: str | None = Field(None, min_length=1)
    git_url: str | None = Field(None, min_length=1, pattern=r"^[^-\s]\S*$")
    branch: str | None = Field(None, pattern=_REF, max_length=250)
    github: str | None = Field(None, pattern=r"^[\w.-]+/[\w.-]+$",
                               description="`owner/repo`, matched against push webhooks")
    status: Literal["active", "inactive"] = "active"


class ProjectUpdate(BaseModel):
    """Fields of a project that may change."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    status: Literal["active", "inactive"] | None = None
    branch: str | None = Field(None, pattern=_REF, max_length=250)
    github: str | None = Field(None, pattern=r"^[\w.-]+/[\w.-]+$")


class BuildRequest(BaseModel):
    """What to build: a commit (else the project's folder as it is), tasks, mode."""

    model_config = ConfigDict(extra="forbid")
    commit: str | None = Field(None, validation_alias=AliasChoices("commit", "commit_sha"),
                               pattern=_REF, max_length=250)
    branch: str | None = Field(None, pattern=_REF, max_length=250)
    tasks: list[Annotated[str, Field(pattern=_NAME, max_length=200)]] = Field(
        [], max_length=100, description="doit tasks (default: the repository's default ones)")
    mode: Literal["development", "production", "test"] = "development"
    trigger: Literal["manual", "push", "webhook"] = "manual"


class Detail(BaseModel):
    """Every error's body: one line."""

    detail: str


class Page:
    """Paging parameters: page and per_page (from 1), or limit and offset."""

    def __init__(self, page: Annotated[int | None, Query(ge=1)] = None,
                 per_page: Annotated[int | None, Query(ge=1, le=200)] = None,
                 limit: Annotated[int | None, Query(ge=1, le=200)] = None,
                 offset: Annotated[int | None, Query(ge=0)] = None) -> None:
        self.limit = per_page or limit or 20
        self.offset = offset if offset is not None else ((page or 1) - 1) * self.limit
