"""The API's request bodies and parameters, validated at the edge."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field

from service.refs import RefError, branch_name, commit_id
from service.status import BuildStatus

_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.:/*?+@-]*$"  # a doit task name (or pattern): never an
# option or var=value
MAX_PATH = 4096  # PATH_MAX
MAX_PART = 255  # NAME_MAX: one component of a path


def _text(value: str) -> str:
    """No control characters (a NUL would reach the OS as a truncated path)."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters (NUL, newline, ...)")
    return value


def _path(value: str) -> str:
    _text(value)
    if len(value) > MAX_PATH:
        raise ValueError(f"is {len(value)} characters; a path has at most {MAX_PATH}")
    if any(len(part.encode()) > MAX_PART for part in value.split("/")):
        raise ValueError(f"has a part over {MAX_PART} bytes, longer than a file name can be")
    return value


def _ref(check: object) -> AfterValidator:
    def valid(value: str) -> str:
        try:
            return check(value)  # type: ignore[operator]
        except RefError as err:
            raise ValueError(str(err)) from None
    return AfterValidator(valid)


Text = Annotated[str, AfterValidator(_text)]
FolderPath = Annotated[str, AfterValidator(_path)]
Branch = Annotated[str, _ref(branch_name)]
Commit = Annotated[str, _ref(commit_id)]

Status = BuildStatus  # service/status.py holds the words


class ProjectCreate(BaseModel):
    """A repository to register: its path, or a git URL (and branch) to clone."""

    model_config = ConfigDict(extra="forbid")
    name: Text | None = Field(None, min_length=1, max_length=200)
    path: FolderPath | None = Field(None, min_length=1)
    git_url: Text | None = Field(None, min_length=1, max_length=2000, pattern=r"^[^-\s]\S*$")
    branch: Branch | None = Field(None, description="the branch pushes build (webhook)")
    github: str | None = Field(None, pattern=r"^[\w.-]+/[\w.-]+$", max_length=200,
                               description="`owner/repo`, matched against push webhooks")
    status: Literal["active", "inactive"] = "active"
    build_tags: bool = Field(False, description="whether a pushed tag builds (webhook)")


class ProjectUpdate(BaseModel):
    """Fields of a project that may change."""

    model_config = ConfigDict(extra="forbid")
    name: Text | None = Field(None, min_length=1, max_length=200)
    status: Literal["active", "inactive"] | None = None
    branch: Branch | None = None
    github: str | None = Field(None, pattern=r"^[\w.-]+/[\w.-]+$", max_length=200)
    build_tags: bool | None = None


class BuildRequest(BaseModel):
    """What to build: a commit (else the project's folder as it is), tasks, mode."""

    model_config = ConfigDict(extra="forbid")
    commit: Commit | None = Field(None, validation_alias=AliasChoices("commit", "commit_sha"),
                                  description="a commit id (7 to 64 hex digits)")
    branch: Branch | None = None
    tasks: list[Annotated[str, Field(pattern=_NAME, max_length=200)]] = Field(
        [], max_length=100, description="doit tasks (default: the repository's default ones)")
    mode: Literal["development", "production", "test"] = "development"
    trigger: Literal["manual", "push", "webhook"] = "manual"


class FixBranch(BaseModel):
    """Which of a build's proven fixes to commit on a branch of its own."""

    model_config = ConfigDict(extra="forbid")
    task: str = Field(pattern=_NAME, max_length=200, description="the task the fix made pass")


class Detail(BaseModel):
    """Every error's body: one line."""

    detail: str


class Page:
    """Paging parameters: page and per_page (from 1), or limit and offset."""

    # Bounded so that offset = (page - 1) * per_page stays a 64-bit integer for SQLite.
    def __init__(self, page: Annotated[int | None, Query(ge=1, le=10**9)] = None,
                 per_page: Annotated[int | None, Query(ge=1, le=200)] = None,
                 limit: Annotated[int | None, Query(ge=1, le=200)] = None,
                 offset: Annotated[int | None, Query(ge=0, le=10**12)] = None) -> None:
        self.limit = per_page or limit or 20
        self.offset = offset if offset is not None else ((page or 1) - 1) * self.limit


async def paging(page: Annotated[int | None, Query(ge=1, le=10**9)] = None,
                 per_page: Annotated[int | None, Query(ge=1, le=200)] = None,
                 limit: Annotated[int | None, Query(ge=1, le=200)] = None,
                 offset: Annotated[int | None, Query(ge=0, le=10**12)] = None) -> Page:
    """The Page of a request's query (async: built on the event loop, not in a thread)."""
    return Page(page, per_page, limit, offset)
