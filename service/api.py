"""The HTTP API of `doit serve`: create_app(config) -> FastAPI.

Every mutating endpoint needs `Authorization: Bearer <token>`; reads too unless the
service runs with public reads (the OpenAPI schema at /openapi.json is a read). Errors are
`{"detail": "<one line>"}`. The dashboard (service/static/) is served at / and /static/
without a token: it reads the token from the URL's fragment (`/#token=...`). Every request
first passes service.gate (Host, Origin, body limits, security headers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Body,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Query,
    Request,
    Security,
)
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from core.runner import tail_lines
from service.builds import BuildQueue
from service.config import LOGGER, ServiceConfig, ensure_token, make_private, private_file
from service.context import Services
from service.db import (
    CANCELLED,
    FAILED,
    FINISHED,
    PENDING,
    RUNNING,
    Database,
    QueueFull,
    seconds_since,
)
from service.events import EventBus, percent
from service.fixes import FixError, commit_on_branch, proposed
from service.gate import Gate
from service.git import Git, GitError
from service.job import OUTPUT_LINES
from service.live import live_router
from service.models import (
    BuildRequest,
    Detail,
    FixBranch,
    Page,
    ProjectCreate,
    ProjectUpdate,
    Status,
    paging,
)
from service.pictures import (
    MOST_BUILDS,
    TREND_BUILDS,
    GraphUnavailable,
    project_graph,
    timeline,
    trends,
)
from service.projects import ProjectError, Projects
from service.refs import RefError
from service.webhook import webhook_router

STATIC = Path(__file__).resolve().parent / "static"
VERSION = "1.0"
_BEARER = HTTPBearer(auto_error=False, description="The API token: printed on the first "
                     "start, stored in DATA/token")
_Responses = dict[int | str, dict[str, Any]]
_REFUSED: _Responses = {401: {"model": Detail, "description": "Missing or wrong bearer token"}}
_MISSING: _Responses = {404: {"model": Detail, "description": "No such project or build"}}
_CONFLICT: _Responses = {409: {"model": Detail,
                               "description": "Not possible in its current state"}}
_BUSY: _Responses = {429: {"model": Detail, "description": "The queue is full; see "
                           "Retry-After"}}
# SQLite's integers are 64-bit: a larger id is simply no build, not an overflow.
BuildId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
RETRY_AFTER = 30  # seconds a client is told to wait when the queue is full


def create_app(config: ServiceConfig, token: str | None = None) -> FastAPI:
    """The service: API, live events, webhook and dashboard; the build queue runs (and
    interrupted builds are recovered) while the app's lifespan lasts."""
    if token is None:
        token, _ = ensure_token(config)
    private_file(config.db)  # SQLite gives its -wal and -shm files the same mode
    db = Database(config.db)
    make_private(config)
    bus = EventBus()
    services = Services(config, token, db, bus, BuildQueue(config, db, bus), Projects(config, db))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        bus.bind(asyncio.get_running_loop())
        await run_in_threadpool(services.queue.start)
        try:
            yield
        finally:
            await run_in_threadpool(services.queue.stop)

    app = FastAPI(title="fedbuild build service", version=VERSION, lifespan=lifespan,
                  description="Register repositories, build them in the background with "
                  "fedbuild's doit engine, follow builds live and read their history.",
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    app.add_middleware(Gate, services=services)
    _error_bodies(app)
    _schema(app, services)
    app.include_router(health_router(services))
    app.include_router(api_router(services))
    app.include_router(webhook_router(services))
    app.include_router(live_router(services))
    _dashboard(app)
    return app


def _guard(services: Services, *, write: bool) -> Any:
    """A dependency refusing (401) a request without the right bearer token."""
    async def check(request: Request,
                    _scheme: Annotated[Any, Security(_BEARER)] = None) -> None:
        why = services.refusal(request.headers.get("authorization"), write=write)
        if why is not None:
            raise HTTPException(401, why, headers={"WWW-Authenticate": "Bearer"})
    return Depends(check)


def health_router(services: Services) -> APIRouter:
    """GET /api/health: no token needed."""
    router = APIRouter(prefix="/api")

    @router.get("/health", tags=["service"])
    async def health(request: Request) -> dict[str, Any]:
        """Whether the service runs (no token needed); its settings and queue with one."""
        basic = {"status": "ok", "service": "fedbuild", "version": VERSION}
        if services.refusal(request.headers.get("authorization"), write=True) is not None:
            return basic
        return {**basic,
                "workers": services.config.workers, "running": len(services.queue.running()),
                "pending": services.db.builds(status=PENDING, limit=1)[1],
                "public_reads": services.config.public_reads,
                "webhook": bool(services.config.webhook_secret)}

    return router


def api_router(services: Services) -> APIRouter:
    """Projects, builds, statistics and health."""
    router = APIRouter(prefix="/api", responses={**_REFUSED, **_MISSING})
    read, write = _guard(services, write=False), _guard(services, write=True)
    db, queue, projects = services.db, services.queue, services.projects

    @router.get("/projects", tags=["projects"], dependencies=[read])
    async def list_projects() -> list[dict[str, Any]]:
        """Every registered project, with its latest build."""
        return [_project_view(services, p) for p in db.projects()]

    @router.post("/projects", tags=["projects"], status_code=201, dependencies=[write],
                 responses=_CONFLICT)
    def register(body: ProjectCreate) -> dict[str, Any]:
        """Register a repository (checked as a build would be: 422 with doit's error line)."""
        try:
            project = projects.register(**body.model_dump())
        except ProjectError as err:
            raise HTTPException(err.status, err.detail) from None
        return _project_view(services, project)

    @router.get("/projects/{project_id}", tags=["projects"], dependencies=[read])
    async def get_project(project_id: str) -> dict[str, Any]:
        """One project."""
        return _project_view(services, _project(services, project_id))

    @router.patch("/projects/{project_id}", tags=["projects"], dependencies=[write])
    def update_project(project_id: str, body: ProjectUpdate) -> dict[str, Any]:
        """Change a project's status (active/inactive), name, branch or GitHub name."""
        _project(services, project_id)
        changed = db.update_project(project_id, **body.model_dump(exclude_unset=True))
        return _project_view(services, changed or {})

    @router.post("/projects/{project_id}/build", tags=["builds"], status_code=202,
                 dependencies=[write], responses={**_CONFLICT, **_BUSY})
    async def trigger(project_id: str,
                      body: Annotated[BuildRequest | None, Body()] = None,
                      idempotency_key: Annotated[str | None, Header(
                          max_length=200, pattern=r"^[\x21-\x7e]+$",
                          description="a retry with the same key answers with the same "
                          "build")] = None) -> dict[str, Any]:
        """Queue a build; answers at once with the pending build."""
        ask = body or BuildRequest()
        project = _project(services, project_id)
        key = f"{project_id}:{idempotency_key}" if idempotency_key else None
        # One build per key, even when the same key is sent twice at once.
        async with services.idempotency if key else nullcontext():
            earlier = db.idempotent_build(key) if key else None
            if earlier is not None:
                return {**_build_view(services, _build(services, earlier)), "build_id": earlier}
            await _validate_soon(services, project, ask.tasks)
            commit = ask.commit
            if commit is not None and not services.config.is_clone(project["path"]):
                commit = await run_in_threadpool(_known_commit, services, project, commit)
            build = _submit(services, project, commit=commit, branch=ask.branch,
                            tasks=ask.tasks, mode=ask.mode, trigger=ask.trigger)
            if key:
                db.remember_key(key, build["id"])
        return {**_build_view(services, build), "build_id": build["id"]}

    @router.get("/projects/{project_id}/builds", tags=["builds"], dependencies=[read])
    async def project_builds(project_id: str, page: Annotated[Page, Depends(paging)],
                       status: Status | None = None) -> dict[str, Any]:
        """A project's builds, newest first, a page at a time."""
        _project(services, project_id)
        return _page(services, page, project_id, status)

    @router.get("/projects/{project_id}/stats", tags=["builds"], dependencies=[read])
    async def stats(project_id: str) -> dict[str, Any]:
        """Builds per status, success rate (percent of all builds), average duration."""
        _project(services, project_id)
        return db.stats(project_id)

    @router.get("/projects/{project_id}/trends", tags=["builds"], dependencies=[read])
    def project_trends(project_id: str, last: Annotated[int, Query(ge=1, le=MOST_BUILDS)]
                       = TREND_BUILDS) -> dict[str, Any]:
        """The last finished builds' durations and each task's status and duration in them."""
        _project(services, project_id)
        return trends(db, project_id, last)

    @router.get("/projects/{project_id}/graph", tags=["builds"], dependencies=[read])
    def project_task_graph(project_id: str) -> dict[str, Any]:
        """The task graph of the newest finished build with run files, laid out by Graphviz:
        each task's status, recorded duration and details, the critical path (404 before
        such a build, 503 without Graphviz)."""
        _project(services, project_id)
        try:
            found = project_graph(db, project_id)
        except GraphUnavailable as err:
            raise HTTPException(503, str(err)) from None
        if found is None:
            raise HTTPException(404, f"project {project_id} has no finished build with run "
                                "files (yet)")
        return found

    @router.get("/builds", tags=["builds"], dependencies=[read])
    async def all_builds(page: Annotated[Page, Depends(paging)], status: Status | None = None,
                   project_id: str | None = None) -> dict[str, Any]:
        """Every project's builds, newest first, a page at a time."""
        return _page(services, page, project_id, status)

    @router.get("/builds/{build_id}", tags=["builds"], dependencies=[read])
    async def get_build(build_id: BuildId) -> dict[str, Any]:
        """A build: status, times, output tail, test results, artifacts, its tasks' results
        and its latest events."""
        return _build_view(services, _build(services, build_id), full=True)

    @router.get("/builds/{build_id}/timeline", tags=["builds"], dependencies=[read])
    def build_timeline(build_id: BuildId) -> dict[str, Any]:
        """When each task ran, in which worker lane, and the critical path (from the run
        files of a finished build; 404 before they exist)."""
        found = timeline(_build(services, build_id).get("run_files"))
        if found is None:
            raise HTTPException(404, f"build {build_id} has no run files (yet)")
        return found

    @router.get("/builds/{build_id}/log", tags=["builds"], dependencies=[read],
                response_class=Response)
    def build_log(build_id: BuildId) -> Response:
        """The build's whole output (text/plain)."""
        _build(services, build_id)
        log = services.config.build_dir(build_id) / "output.log"
        if not log.is_file():
            return Response("", media_type="text/plain; charset=utf-8")
        return FileResponse(log, media_type="text/plain; charset=utf-8")

    @router.post("/builds/{build_id}/retry", tags=["builds"], status_code=202,
                 dependencies=[write], responses={**_CONFLICT, **_BUSY})
    def retry(build_id: BuildId) -> dict[str, Any]:
        """Queue a new build like a failed or cancelled one (409 for any other)."""
        old = _build(services, build_id)
        if old["status"] not in (FAILED, CANCELLED):
            raise HTTPException(409, f"build {build_id} is {old['status']}; only failed or "
                                "cancelled builds can be retried")
        project = _project(services, old["project_id"])
        _validate(services, project, old["tasks"])
        build = _submit(services, project,
                        commit=old["commit_sha"] if old["worktree"] else None,
                        branch=old["branch"], tasks=old["tasks"], mode=old["mode"],
                        trigger="manual", retry_of=build_id)
        return {**_build_view(services, build), "build_id": build["id"]}

    @router.post("/builds/{build_id}/fix-branch", tags=["builds"], status_code=202,
                 dependencies=[write], responses={**_CONFLICT, **_BUSY, **_MISSING})
    def fix_branch(build_id: BuildId, body: FixBranch) -> dict[str, Any]:
        """Commit the fix the build proved for a task on a new branch of the project's
        repository (never an existing one) at the build's commit, and build that."""
        old = _build(services, build_id)
        project = _project(services, old["project_id"])
        _validate(services, project, old["tasks"])
        try:
            branch, sha = commit_on_branch(services.config, project, old, body.task)
        except FixError as err:
            raise HTTPException(err.status, str(err)) from None
        build = _submit(services, project, commit=sha, branch=branch, tasks=old["tasks"],
                        mode=old["mode"], trigger="manual")
        return {**_build_view(services, build), "build_id": build["id"], "fix_branch": branch}

    @router.post("/builds/{build_id}/cancel", tags=["builds"], dependencies=[write],
                 responses=_CONFLICT)
    def cancel(build_id: BuildId) -> dict[str, Any]:
        """Cancel a pending build, or kill a running one's whole process tree."""
        previous = queue.cancel(build_id)
        if previous is None:
            raise HTTPException(404, f"no build {build_id}")
        if previous in FINISHED:
            raise HTTPException(409, f"build {build_id} is already {previous}")
        return _build_view(services, _build(services, build_id), full=True)

    return router


def _page(services: Services, page: Page, project_id: str | None,
          status: str | None) -> dict[str, Any]:
    builds, total = services.db.builds(project_id, page.limit, page.offset, status)
    return {"items": [_build_view(services, b) for b in builds], "total": total,
            "limit": page.limit, "offset": page.offset,
            "page": page.offset // page.limit + 1, "per_page": page.limit}


def _project(services: Services, project_id: str) -> dict[str, Any]:
    project = services.db.project(project_id)
    if project is None:
        raise HTTPException(404, f"no project {project_id}")
    return project


def _build(services: Services, build_id: int) -> dict[str, Any]:
    build = services.db.build(build_id)
    if build is None:
        raise HTTPException(404, f"no build {build_id}")
    return build


def _validate(services: Services, project: dict[str, Any],
              tasks: list[str] | None = None) -> None:
    try:
        services.projects.validate_for_build(project, tasks)
    except ProjectError as err:
        raise HTTPException(err.status, err.detail) from None


async def _validate_soon(services: Services, project: dict[str, Any],
                         tasks: list[str] | None) -> None:
    """_validate, on the event loop when the manifest was checked before (a thread's
    round trip cost a loaded machine 10 ms a request), else in a thread (a check runs a
    process)."""
    try:
        if services.projects.validated_before(project, tasks):
            return
    except ProjectError as err:
        raise HTTPException(err.status, err.detail) from None
    await run_in_threadpool(_validate, services, project, tasks)


def _submit(services: Services, project: dict[str, Any], **build: Any) -> dict[str, Any]:
    """Queue a build: 422 for a bad commit or branch, 429 when the queue is full."""
    try:
        return services.queue.submit(project, **build)
    except RefError as err:
        raise HTTPException(422, str(err)) from None
    except QueueFull as err:
        raise HTTPException(429, str(err), headers={"Retry-After": str(RETRY_AFTER)}) from None


def _known_commit(services: Services, project: dict[str, Any], commit: str) -> str:
    """The full sha of `commit` in the project's repository; 422 if it has none such."""
    git = Git(services.config.data / "checks" / f"commit-{project['id']}.log")
    try:
        return git.commit(Path(project["path"]), commit)
    except GitError as err:
        raise HTTPException(422, str(err)) from None
    finally:
        services.config.remove(git.scratch)


def _project_view(services: Services, project: dict[str, Any]) -> dict[str, Any]:
    latest, _ = services.db.builds(project["id"], limit=1)
    return {**project, "last_build": _build_view(services, latest[0]) if latest else None}


def _build_view(services: Services, build: dict[str, Any], full: bool = False) -> dict[str, Any]:
    """A build as the API shows it; `full` adds output, task results and recent events."""
    view = {k: v for k, v in build.items() if k not in ("progress_done", "progress_total")}
    done, total = build["progress_done"], build["progress_total"]
    view["progress"] = {"done": done, "total": total,
                        "percent": percent(done, total) if total else 0}
    running = build["status"] == RUNNING or (build["status"] == CANCELLED
                                             and not build["completed_at"])
    if running and build["started_at"]:
        view["duration"] = round(seconds_since(build["started_at"]), 3)
    view["log_url"] = f"/api/builds/{build['id']}/log"
    if not full:
        view.pop("build_output", None)
        return view
    if running:
        view["build_output"] = tail_lines(services.config.build_dir(build["id"]) / "output.log",
                                          OUTPUT_LINES)
    view["task_results"] = services.db.tasks(build["id"])
    view["fixes"] = proposed(services.config.build_dir(build["id"]) / "fixes")
    view["events"] = services.bus.recent(build["id"])
    return view


def _error_bodies(app: FastAPI) -> None:
    """Validation errors as one line, like every other error; a bug answers a one-line
    500 (and is logged) instead of breaking the connection."""
    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        lines = []
        for problem in err.errors():
            where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body")
            message = str(problem.get("msg"))[:200]
            lines.append(f"{where}: {message}" if where else message)
        return JSONResponse({"detail": "; ".join(lines) or "invalid request"}, status_code=422)

    @app.exception_handler(Exception)
    async def bug(request: Request, err: Exception) -> JSONResponse:
        logging.getLogger(LOGGER).error("%s %s: internal error: %r", request.method,
                                        request.url.path, err)
        return JSONResponse({"detail": "internal error (see the service's log)"},
                            status_code=500)


def _schema(app: FastAPI, services: Services) -> None:
    """GET /openapi.json: a read, so it needs the token unless reads are public."""
    @app.get("/openapi.json", include_in_schema=False,
             dependencies=[_guard(services, write=False)])
    def schema() -> JSONResponse:
        return JSONResponse(app.openapi())


def _dashboard(app: FastAPI) -> None:
    """GET / (the page) and /static/ (its files): no token, the page asks for one."""
    @app.get("/", include_in_schema=False)
    def index() -> Response:
        page = STATIC / "index.html"
        if page.is_file():
            return FileResponse(page, media_type="text/html; charset=utf-8")
        return HTMLResponse("<!doctype html><title>fedbuild</title><p>fedbuild build service: "
                            "the dashboard is not installed; /openapi.json describes the "
                            "API.</p>")

    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
