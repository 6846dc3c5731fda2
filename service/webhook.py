"""GitHub's push webhook: the signature, the repository's project, the build it asks for."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.config import LOGGER
from service.context import Services
from service.projects import ProjectError
from service.refs import RefError, branch_name, full_commit

SIGNATURE_HEADER = "X-Hub-Signature-256"
_SCP = re.compile(r"^[^/@:]+@([^:/]+):(.+)$")  # git@github.com:owner/repo.git
_NO_COMMIT = "0" * 40
URL_FIELDS = ("clone_url", "html_url", "ssh_url", "git_url", "svn_url", "url")

log = logging.getLogger(LOGGER)


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    """Whether `header` is `sha256=<hex>` of the HMAC-SHA256 of body under secret."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def url_key(url: str) -> str:
    """A repository URL in one spelling: `host/owner/repo` (or the path of a local one),
    without scheme, user, `.git` or trailing slash, so https, ssh and scp forms compare."""
    text = url.strip().rstrip("/").removesuffix(".git")
    scp = _SCP.match(text)
    if scp:
        return f"{scp.group(1)}/{scp.group(2).strip('/')}".lower()
    if "://" in text:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        path = parts.path.rstrip("/").removesuffix(".git")
        return f"{host}{path}".lower() if host else path  # hosted names ignore case
    return text


def repository_names(repository: dict[str, Any]) -> tuple[set[str], str | None]:
    """(the URL keys, the lower-case full name) a push names its repository by."""
    keys = {url_key(str(repository[f])) for f in URL_FIELDS if repository.get(f)}
    full = repository.get("full_name")
    return keys, str(full).lower() if full else None


def find_project(projects: list[dict[str, Any]],
                 repository: dict[str, Any]) -> dict[str, Any] | None:
    """The registered project for the pushed repository: by git URL, or by its `github`
    full name (`owner/repo`); None if there is none."""
    keys, full = repository_names(repository)
    for project in projects:
        mine = url_key(project["git_url"]) if project["git_url"] else None
        if mine and mine in keys:
            return project
        named = (project["github"] or "").lower()
        if full and (named == full or (mine and mine.endswith("/" + full)
                                       and mine.count("/") == 2)):
            return project
    return None


def push_build(payload: dict[str, Any]) -> dict[str, Any] | None:
    """commit, branch, message and author of a push; None for a deleted branch."""
    after = payload.get("after")
    if payload.get("deleted") or not after or after == _NO_COMMIT:
        return None
    ref = str(payload.get("ref") or "")
    head = payload.get("head_commit") or {}
    author = head.get("author") or {}
    return {"commit": str(after),
            "branch": ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/")
            else None,
            "message": head.get("message"),
            "author": author.get("name") or author.get("username")}


def push_refusal(payload: dict[str, Any], push: dict[str, Any] | None,
                 wanted: str | None, tags: bool) -> str | None:
    """Why a signed push builds nothing (None: it builds). Only the project's branch
    builds; a tag only when the project opted in; a deleted ref never."""
    ref = str(payload.get("ref") or "")
    if push is None:
        return f"{ref or 'the ref'} was deleted: nothing to build"
    if ref.startswith("refs/tags/"):
        return None if tags else (f"{ref} is a tag and the project does not build tags "
                                  "(set build_tags to build them)")
    if not ref.startswith("refs/heads/"):
        return f"{ref[:200] or 'an empty ref'} is neither a branch nor a tag"
    if wanted is None:
        return ("the project has no branch to build: register it with a branch, or let the "
                "push name the repository's default_branch")
    if push["branch"] != wanted:
        return f"a push to branch {push['branch'][:200]!r}: only {wanted!r} builds"
    return None


def checked_push(push: dict[str, Any]) -> dict[str, Any]:
    """The push with its commit and branch checked as every way into the queue checks them
    (RefError otherwise); message and author are cut to a sane length."""
    branch = push["branch"]
    return {**push, "commit": full_commit(push["commit"]),
            "branch": branch_name(branch) if branch is not None else None,
            "message": _cut(push["message"], 10_000), "author": _cut(push["author"], 200)}


def _cut(text: Any, most: int) -> str | None:
    return None if text is None else str(text)[:most]


def repository_label(repository: dict[str, Any]) -> str:
    """How a log line names the pushed repository."""
    return str(repository.get("full_name") or repository.get("clone_url") or "?")


def webhook_router(services: Services) -> APIRouter:
    """POST /api/webhooks/github: authenticated by its signature, not the bearer token."""
    router = APIRouter()

    @router.post("/api/webhooks/github", tags=["webhooks"], status_code=202, responses={
        200: {"description": "ping, or an event that builds nothing"},
        401: {"description": "missing or bad X-Hub-Signature-256"},
        404: {"description": "no project for the pushed repository"},
        503: {"description": "no webhook secret configured"}})
    async def github(request: Request) -> JSONResponse:
        """A push queues a build of the pushed commit (trigger 'push'); ping answers 200."""
        delivery = request.headers.get("X-GitHub-Delivery", "-")[:100]
        secret = services.config.webhook_secret
        if not secret:
            return _refuse(503, "the webhook is off: no secret is configured (start "
                           "`doit serve --webhook-secret-file FILE` or set "
                           "FEDBUILD_WEBHOOK_SECRET)", delivery)
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:  # refused before the body is read
            return _refuse(401, f"missing {SIGNATURE_HEADER} header", delivery)
        body = await request.body()  # the size limit applies while it streams (service.gate)
        if not signature_ok(secret, body, header):
            return _refuse(401, f"bad signature in {SIGNATURE_HEADER}", delivery)
        event = request.headers.get("X-GitHub-Event", "")
        if event == "ping":
            return JSONResponse({"ok": True, "detail": "pong"}, status_code=200)
        if event != "push":
            return JSONResponse({"queued": False, "detail": f"{event or 'unnamed'} events "
                                 "are not built; only push"}, status_code=200)
        try:
            payload = json.loads(body)
            repository = dict(payload.get("repository") or {})
        except (ValueError, TypeError, AttributeError):
            return _refuse(400, "the push payload is not a JSON object", delivery)
        if delivery == "-":
            return _refuse(400, "missing X-GitHub-Delivery header", delivery)
        return await run_in_threadpool(_push, services, payload, repository, delivery)

    return router


def _push(services: Services, payload: dict[str, Any], repository: dict[str, Any],
          delivery: str) -> JSONResponse:
    """Queue the build a signed push asks for."""
    project = find_project(services.db.projects(), repository)
    if project is None:
        return _refuse(404, f"no project is registered for repository "
                       f"{repository_label(repository)}; register it with its git_url or "
                       "github full name", delivery)
    push = push_build(payload)
    why = push_refusal(payload, push, _wanted_branch(services, project, repository),
                       bool(project.get("build_tags")))
    if why is not None or push is None:
        return _ignored(services, delivery, why or "nothing to build")
    try:
        push = checked_push(push)
    except RefError as err:
        return _refuse(422, str(err), delivery)
    try:
        services.projects.validate_for_build(project)
    except ProjectError as err:
        return _refuse(err.status, err.detail, delivery)
    if not services.db.remember_delivery(delivery):
        return _replayed(delivery)
    try:
        build = services.queue.submit(project, commit=push["commit"], branch=push["branch"],
                                      trigger="push", message=push["message"],
                                      author=push["author"])
    except BaseException:
        services.db.forget_delivery(delivery)  # GitHub may deliver it again
        raise
    log.info("webhook %s: push to %s queued build %s", delivery,
             repository_label(repository), build["id"])
    return JSONResponse({"queued": True, "build_id": build["id"], "build": build},
                        status_code=202)


def _wanted_branch(services: Services, project: dict[str, Any],
                   repository: dict[str, Any]) -> str | None:
    """The branch whose pushes build: the project's, else the repository's default branch
    (as the signed push names it), else the branch the project's checkout is on."""
    if project.get("branch"):
        return str(project["branch"])
    if repository.get("default_branch"):
        return str(repository["default_branch"])
    return services.projects.checked_out_branch(project)


def _ignored(services: Services, delivery: str, why: str) -> JSONResponse:
    if not services.db.remember_delivery(delivery):
        return _replayed(delivery)
    log.info("webhook %s: nothing built: %s", delivery, why)
    return JSONResponse({"queued": False, "detail": why}, status_code=200)


def _replayed(delivery: str) -> JSONResponse:
    log.warning("webhook %s: a replay of a delivery already received; nothing built", delivery)
    return JSONResponse({"queued": False, "detail": f"delivery {delivery} was already "
                         "received; nothing built"}, status_code=200)


def _refuse(status: int, detail: str, delivery: str) -> JSONResponse:
    log.warning("webhook %s refused (%s): %s", delivery, status, detail)
    return JSONResponse({"detail": detail}, status_code=status)
