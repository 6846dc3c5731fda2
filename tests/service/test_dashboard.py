"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real
`doit serve` (the shared one of tests/service/conftest.py) building real fixture
repositories. Nothing is downloaded and no browser is installed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.service.service_server import Service, git

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
MARKUP_LINE = "<script>alert(1)</script>"
HOSTILE_NAME = '<img src=x onerror="window.pwned=1">'
# build:hello (the default) prints markup and waits (at most 60 s) until the test creates its
# module's `release` file: it is seen running, cancelled or let finish when the test says, not
# when a clock does; check:hello prints markup and fails, so doit puts its log's tail in the
# build's output.
WAIT = ("import pathlib, sys, time\n"
        f"print({MARKUP_LINE!r}, flush=True)\n"
        "release, deadline = pathlib.Path(sys.argv[1]), time.monotonic() + 60\n"
        "while not release.exists() and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n")
MANIFEST = {
    "federation": {"name": "dashboard fixture", "baseURL": "https://dashboard.example.org"},
    "modules": [{
        "name": "hello",
        "source": {"repository": "local", "path": "modules/hello"},
        "toolchain": "command",
        "steps": [
            {"name": "build", "description": "print markup, then wait for the release file",
             "argv": ["{python}", "-c", WAIT, "{module_dir}/release"]},
            {"name": "check", "description": "print markup, then fail", "default": False,
             "argv": ["{python}", "-c", f"print({MARKUP_LINE!r}); raise SystemExit(1)"]},
        ],
    }],
}

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


def release(repo: Path) -> None:
    """Let build:hello of the repository at `repo` finish."""
    (repo / "modules" / "hello" / "release").touch()


def make_repository(dest: Path) -> Path:
    """The fixture monorepo: one module of the command toolchain, committed in git."""
    (dest / "modules" / "hello").mkdir(parents=True)
    (dest / "modules" / "hello" / "README.txt").write_text("hello\n")
    (dest / "modules.json").write_text(json.dumps(MANIFEST, indent=2) + "\n")
    (dest / ".gitignore").write_text(".fedbuild/\ndist/\npublic/\n")
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "fixture")
    return dest


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, never talking to anything but the service."""
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """A fresh page, with what it did that a test must be able to deny."""

    page: Any
    dialogs: list[str]
    api_requests: list[str]


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    """A page in its own context (its own sessionStorage), recording dialogs and API calls."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    recorded = Tab(page, [], [])

    def dialog(opened: Any) -> None:
        recorded.dialogs.append(opened.message)
        opened.dismiss()

    page.on("dialog", dialog)
    page.on("request", lambda request: recorded.api_requests.append(request.url)
            if "/api/" in request.url else None)
    yield recorded
    context.close()


def test_without_a_token_the_page_asks_for_one_and_shows_no_data(service: Service,
                                                                  tab: Tab) -> None:
    tab.page.goto(f"{service.url}/")
    sync_api.expect(tab.page.locator("#token-form-panel")).to_be_visible()
    sync_api.expect(tab.page.locator("#token-message")).to_contain_text("paste")
    assert tab.page.locator("#app").is_hidden()
    assert tab.page.locator("#project-list > *").count() == 0
    assert tab.api_requests == []


def test_a_refused_token_asks_again(service: Service, tab: Tab) -> None:
    tab.page.goto(f"{service.url}/#token=not-the-token")
    sync_api.expect(tab.page.locator("#token-message")).to_contain_text("refused")
    assert tab.page.locator("#app").is_hidden()
    # A pasted good token opens the dashboard.
    tab.page.fill("#token-input", service.token)
    tab.page.click("#token-submit")
    sync_api.expect(tab.page.locator("#app")).to_be_visible()


def open_dashboard(service: Service, tab: Tab, project: dict[str, Any]) -> Any:
    """The dashboard with the token in its URL, the project selected, listening live."""
    page = tab.page
    page.goto(f"{service.url}/#token={service.token}")
    item = page.locator(f'li[data-project-id="{project["id"]}"]')
    item.locator(".project-name").click()  # the service is shared: other tests' projects too
    sync_api.expect(item).to_have_class(re.compile(r"\bselected\b"))
    sync_api.expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    page.evaluate("window.sameDocument = true")  # gone if the page ever reloads
    return page


def builds_of(service: Service, project: dict[str, Any]) -> list[dict[str, Any]]:
    """The project's builds, newest first, as the API lists them."""
    response = service.get(f"/api/projects/{project['id']}/builds")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_the_build_button_starts_a_build_whose_status_goes_live_to_success(
        service: Service, tab: Tab, tmp_path: Path) -> None:
    repo = make_repository(tmp_path / "repo")
    project = service.register(repo, name="hello repo")
    page = open_dashboard(service, tab, project)
    assert "token" not in page.evaluate("location.href")  # kept out of the address bar
    item = page.locator(f'li[data-project-id="{project["id"]}"]')
    sync_api.expect(item.locator(".project-name")).to_have_text("hello repo")
    sync_api.expect(item.locator(".project-status")).to_have_text("never built")

    item.locator("button.build").click()
    status = page.locator("#build-status")
    sync_api.expect(status).to_have_text(re.compile("^(pending|running)$"))
    [build] = builds_of(service, project)
    assert build["triggered_by"] == "manual"
    row = page.locator(f'#build-list tr[data-build-id="{build["id"]}"]')
    sync_api.expect(row).to_contain_text("manual")

    release(repo)
    sync_api.expect(status).to_have_text("success", timeout=30_000)
    sync_api.expect(row.locator(".badge")).to_have_text("success")
    sync_api.expect(page.locator('#build-tasks tr[data-task="build:hello"]')).to_contain_text(
        "built")
    sync_api.expect(item.locator(".project-status")).to_have_text("success")
    sync_api.expect(item.locator(".project-stats")).to_contain_text("1 build · 100% success")
    assert page.evaluate("window.sameDocument") is True  # updated live, never reloaded
    assert tab.dialogs == []
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)


def test_a_running_build_can_be_cancelled_then_retried(service: Service, tab: Tab,
                                                       tmp_path: Path) -> None:
    repo = make_repository(tmp_path / "repo")
    project = service.register(repo, name="cancel me")
    page = open_dashboard(service, tab, project)
    page.locator(f'li[data-project-id="{project["id"]}"] button.build').click()
    status = page.locator("#build-status")
    sync_api.expect(status).to_have_text("running", timeout=20_000)
    page.locator("#build-cancel").click()
    sync_api.expect(status).to_have_text("cancelled", timeout=20_000)
    sync_api.expect(page.locator("#build-cancel")).to_be_hidden()

    [cancelled] = builds_of(service, project)
    page.locator("#build-retry").click()
    sync_api.expect(page.locator("#build-detail")).not_to_have_attribute(
        "data-build-id", str(cancelled["id"]))
    sync_api.expect(status).to_have_text(re.compile("^(pending|running)$"))
    retried = builds_of(service, project)[0]
    assert retried["retry_of"] == cancelled["id"]
    release(repo)
    sync_api.expect(status).to_have_text("success", timeout=30_000)


def test_a_failed_builds_log_is_shown_as_text(service: Service, tab: Tab,
                                              tmp_path: Path) -> None:
    project = service.register(make_repository(tmp_path / "repo"), name="fails")
    page = open_dashboard(service, tab, project)
    build = service.trigger(project["id"], tasks=["check:hello"])
    # The build appears and fails in the list without a reload: the page hears it live.
    row = page.locator(f'#build-list tr[data-build-id="{build["id"]}"]')
    sync_api.expect(row.locator(".badge")).to_have_text("failed", timeout=30_000)
    row.click()
    sync_api.expect(page.locator("#build-status")).to_have_text("failed")
    log = page.locator("#log")
    sync_api.expect(log).to_contain_text(MARKUP_LINE)
    assert log.locator("*").count() == 0  # one text node: no <script> element was made
    sync_api.expect(page.locator("#build-retry")).to_be_visible()
    sync_api.expect(page.locator('#build-tasks tr[data-task="check:hello"]')).to_contain_text(
        "failed")
    assert page.evaluate("window.sameDocument") is True
    assert tab.dialogs == []


def test_a_project_named_with_markup_is_shown_as_text(service: Service, tab: Tab,
                                                      tmp_path: Path) -> None:
    project = service.register(make_repository(tmp_path / "repo"), name=HOSTILE_NAME)
    page = open_dashboard(service, tab, project)
    name = page.locator(f'li[data-project-id="{project["id"]}"] .project-name')
    sync_api.expect(name).to_have_text(HOSTILE_NAME)
    sync_api.expect(page.locator("#builds-title")).to_have_text(f"Builds of {HOSTILE_NAME}")
    assert page.locator("img").count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert tab.dialogs == []


def make_fixable_repository(dest: Path) -> Path:
    """A monorepo whose lint step fails on an unused import ruff's fixer removes; the line
    beside it is markup, so the diff shown holds it."""
    (dest / "modules" / "tidy").mkdir(parents=True)
    (dest / "modules" / "tidy" / "greet.py").write_text(
        f'"""{HOSTILE_NAME}"""\nimport os\n\nGREETING = "hello"\n')
    manifest = {
        "federation": {"name": "fixable fixture", "baseURL": "https://fixable.example.org"},
        "modules": [{
            "name": "tidy", "source": {"repository": "local", "path": "modules/tidy"},
            "toolchain": "command",
            "steps": [{"name": "lint", "argv": ["ruff", "check", "--no-cache", "."],
                       "fix": [["ruff", "check", "--fix", "--no-cache", "."]]}],
        }],
    }
    (dest / "modules.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (dest / ".gitignore").write_text(".fedbuild/\ndist/\npublic/\n")
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "fixture")
    return dest


def test_a_proven_fix_is_shown_as_text_and_applied_as_a_branch(service: Service, tab: Tab,
                                                               tmp_path: Path) -> None:
    repo = make_fixable_repository(tmp_path / "repo")
    main = git(repo, "rev-parse", "main").strip()
    project = service.register(repo, name="fixable", branch="main")
    page = open_dashboard(service, tab, project)
    build = service.trigger(project["id"], tasks=["lint:tidy"])
    row = page.locator(f'#build-list tr[data-build-id="{build["id"]}"]')
    sync_api.expect(row.locator(".badge")).to_have_text("failed", timeout=60_000)
    row.click()
    fix = page.locator('#fix-list .fix[data-task="lint:tidy"]')
    sync_api.expect(fix.locator(".fix-line")).to_contain_text("made lint:tidy pass")
    diff = fix.locator("pre.diff")
    sync_api.expect(diff).to_contain_text("-import os")
    sync_api.expect(diff).to_contain_text(HOSTILE_NAME)  # as text: no element made
    assert diff.locator("*").count() == 0 and page.locator("img").count() == 0
    assert git(repo, "status", "--porcelain") == ""  # proposed, not applied

    fix.locator("button.apply-fix").click()
    sync_api.expect(page.locator("#build-detail")).not_to_have_attribute(
        "data-build-id", str(build["id"]))
    sync_api.expect(page.locator("#build-status")).to_have_text("success", timeout=60_000)
    branch = f"fedbuild/fix-{build['id']}-lint-tidy"
    newest = builds_of(service, project)[0]
    assert newest["branch"] == branch
    assert newest["commit_sha"] == git(repo, "rev-parse", branch).strip()
    assert "-import os" in git(repo, "show", branch)
    # The registered branch, the checkout and its files are as they were.
    assert git(repo, "rev-parse", "main").strip() == main
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(repo, "status", "--porcelain") == ""
    assert "import os" in (repo / "modules/tidy/greet.py").read_text()
    # Once only; and, like every write, not without the token.
    path = f"/api/builds/{build['id']}/fix-branch"
    assert service.post(path, json={"task": "lint:tidy"}).status_code == 409
    assert service.post(path, json={"task": "lint:tidy"}, token=None).status_code == 401
    assert service.post(path, json={"task": "test:tidy"}).status_code == 404
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert tab.dialogs == []
