"""`federate` through real doit runs on the pages fixture: merge, rewrite, records, validation.

The fixture's build.sh publishes each module's pages/ folder as it is, so a test
decides exactly which files a module produces. home is at `/` and listed last;
docs (at /docs/) is built for the root, so its root links must be rewritten.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_doit

Repo = Callable[[str], Path]


@pytest.fixture
def repo(monorepo: Repo) -> Path:
    """The pages fixture, not built yet."""
    return monorepo("pages")


def doit_ok(repo: Path, *args: str) -> str:
    """Run doit; it must succeed; return its output."""
    result = run_doit(repo, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def write(repo: Path, module: str, rel: str, text: str) -> None:
    """Write a file of a module's pages (what its build publishes)."""
    path = repo / "modules" / module / "pages" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def page(title: str, body: str = "") -> str:
    """A small HTML page."""
    return f"<!DOCTYPE html><html><head><title>{title}</title></head><body>{body}</body></html>\n"


def edit_manifest(repo: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply a change to modules.json."""
    data = json.loads((repo / "modules.json").read_text())
    change(data)
    (repo / "modules.json").write_text(json.dumps(data, indent=2))


def set_strategy(repo: Path, module: str, strategy: str) -> None:
    """Set one module's merge_strategy."""
    def change(data: dict[str, Any]) -> None:
        next(m for m in data["modules"] if m["name"] == module)["merge_strategy"] = strategy
    edit_manifest(repo, change)


def records(repo: Path) -> dict[str, Any]:
    """public/.federation/federation-manifest.json, modules by name."""
    data = json.loads((repo / "public/.federation/federation-manifest.json").read_text())
    data["by_name"] = {m["name"]: m for m in data["modules"]}
    return data


def tree(repo: Path) -> dict[str, str]:
    """Every published file (records excluded) and its text."""
    public = repo / "public"
    return {str(p.relative_to(public)): p.read_text(errors="replace")
            for p in sorted(public.rglob("*")) if p.is_file() and ".federation" not in p.parts}


def sha256sum_ok(public: Path) -> None:
    """The published checksums verify with coreutils, and list exactly the published files."""
    check = subprocess.run(["sha256sum", "--strict", "-c", ".federation/checksums.sha256"],
                           cwd=public, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    listed = {line.split("  ", 1)[1] for line in
              (public / ".federation/checksums.sha256").read_text().splitlines()}
    on_disk = {str(p.relative_to(public)) for p in public.rglob("*")
               if p.is_file() and ".federation" not in p.parts}
    assert listed == on_disk


def test_every_module_is_published_at_its_destination(repo: Path) -> None:
    """`doit` builds and publishes; the records describe the tree; checksums verify."""
    out = doit_ok(repo)
    assert "federation: published public/ (9 files" in out
    assert "  /products/shop/  shop  published (2 files)" in out
    files = tree(repo)
    assert sorted(files) == ["about.html", "css/site.css", "docs/css/site.css",
                             "docs/guide/index.html", "docs/img/logo.png", "docs/index.html",
                             "index.html", "products/shop/css/site.css",
                             "products/shop/index.html"]
    sha256sum_ok(repo / "public")
    data = records(repo)
    assert data["federation"]["name"] == "pages fixture"
    docs = data["by_name"]["docs"]
    assert docs["destination"] == "/docs/" and docs["status"] == "published"
    assert docs["files"] == 4 and docs["bytes"] == sum(
        (repo / "public/docs" / rel).stat().st_size
        for rel in ("index.html", "guide/index.html", "css/site.css", "img/logo.png"))
    assert docs["source"] == {"repository": "local", "path": "modules/docs", "commit": None}
    assert docs["build"]["status"] == "built" and docs["build"]["duration"] >= 0
    assert len(docs["inputs_digest"]) == 64 and docs["published_at"]
    deployment = json.loads((repo / "public/.federation/deployment.json").read_text())
    assert deployment["totals"]["files"] == 9
    assert deployment["by_type"]["html"]["files"] == 5
    assert deployment["by_type"]["png"] == {"files": 1, "bytes": 3}
    assert deployment["baseURL"] == "https://pages.example.org"
    assert deployment["modules"] == {"published": 3}


def test_root_links_of_a_module_below_the_root_are_rewritten(repo: Path) -> None:
    """docs links to /guide/ and /img/logo.png (its own files): published, they gain /docs."""
    doit_ok(repo)
    docs = (repo / "public/docs/index.html").read_text()
    assert '<a href="/docs/">docs home</a> <a href="/docs/guide/">guide</a>' in docs
    assert '<a href="/products/shop/">shop</a>' in docs  # another module's folder: unchanged
    assert '<img src="/docs/img/logo.png" alt="">' in docs
    css = (repo / "public/docs/css/site.css").read_text()
    assert css == "h1 { background: url(/docs/img/logo.png) no-repeat; }\n"
    # shop's links already carry its prefix; home is at the root: neither changes.
    assert (repo / "public/products/shop/index.html").read_text() == \
        (repo / "modules/shop/pages/index.html").read_text()
    assert (repo / "public/index.html").read_text() == \
        (repo / "modules/home/pages/index.html").read_text()


TRICKY = """<!DOCTYPE html>
<html><HEAD><title>tricky</title>
<LINK REL=stylesheet HREF=/css/site.css>
<link rel="preconnect" href="https://cdn.example.net">
<style>
  .hero { background-image: url( "/img/logo.png" ); }
  .data { background: url(data:image/png;base64,iVBORw0KGgo=); }
</style>
<meta http-equiv="refresh" content="30; url=/guide/">
<script>document.write('<a href="/guide/">not a link</a>'); var u = "/img/logo.png";</script>
</head>
<body>
<!-- <a href="/guide/">commented out</a> -->
<a href='/guide/#install'>single quotes, fragment</a>
<a
   class="multi"
   href="/guide/?q=a&amp;b=c">over lines, query</a>
<a href="https://pages.example.org/guide/">same origin</a>
<a href="https://pages.example.org.evil.test/guide/">look-alike host</a>
<a href="//cdn.example.net/img/logo.png">protocol-relative</a>
<a href="#top">anchor</a> <a href="guide/">relative</a> <a href="mailto:x@example.org">mail</a>
<a href="/docs/guide/">already prefixed</a> <a href="/products/shop/">other module</a>
<img srcset="/img/logo.png 1x, /img/logo.png 2x" src="/img/logo.png" alt="é — ünïcode">
<video poster="/img/logo.png"></video>
<form action="/guide/"><button formaction="/guide/">go</button></form>
<div data-src="/img/logo.png" data-lang="bash" style="background: url('/img/logo.png')"></div>
</body></html>
"""

TRICKY_PUBLISHED = """<!DOCTYPE html>
<html><HEAD><title>tricky</title>
<LINK REL=stylesheet HREF=/docs/css/site.css>
<link rel="preconnect" href="https://cdn.example.net">
<style>
  .hero { background-image: url( "/docs/img/logo.png" ); }
  .data { background: url(data:image/png;base64,iVBORw0KGgo=); }
</style>
<meta http-equiv="refresh" content="30; url=/docs/guide/">
<script>document.write('<a href="/guide/">not a link</a>'); var u = "/img/logo.png";</script>
</head>
<body>
<!-- <a href="/guide/">commented out</a> -->
<a href='/docs/guide/#install'>single quotes, fragment</a>
<a
   class="multi"
   href="/docs/guide/?q=a&amp;b=c">over lines, query</a>
<a href="https://pages.example.org/docs/guide/">same origin</a>
<a href="https://pages.example.org.evil.test/guide/">look-alike host</a>
<a href="//cdn.example.net/img/logo.png">protocol-relative</a>
<a href="#top">anchor</a> <a href="guide/">relative</a> <a href="mailto:x@example.org">mail</a>
<a href="/docs/guide/">already prefixed</a> <a href="/products/shop/">other module</a>
<img srcset="/docs/img/logo.png 1x, /docs/img/logo.png 2x" src="/docs/img/logo.png" \
alt="é — ünïcode">
<video poster="/docs/img/logo.png"></video>
<form action="/docs/guide/"><button formaction="/docs/guide/">go</button></form>
<div data-src="/docs/img/logo.png" data-lang="bash" style="background: url('/docs/img/logo.png')">\
</div>
</body></html>
"""


def test_percent_encoded_link_to_a_modules_own_file_is_rewritten(repo: Path) -> None:
    """`/caf%C3%A9/` names docs's folder `café/`: prefixed, and it validates."""
    write(repo, "docs", "café/index.html", page("café"))
    write(repo, "docs", "index.html", page("docs", '<a href="/caf%C3%A9/">café</a>'))
    doit_ok(repo)
    assert '<a href="/docs/caf%C3%A9/">' in (repo / "public/docs/index.html").read_text()


def test_tricky_attributes_are_rewritten_exactly(repo: Path) -> None:
    """A page with every kind of link: exactly the module's own root links change."""
    write(repo, "docs", "tricky.html", TRICKY)
    doit_ok(repo)
    assert (repo / "public/docs/tricky.html").read_text() == TRICKY_PUBLISHED


def test_no_change_means_federate_does_nothing(repo: Path) -> None:
    """A second run leaves the published tree alone (same folder, same files)."""
    doit_ok(repo)
    before = os.stat(repo / "public").st_ino
    out = doit_ok(repo)
    assert "federate up to date" in out and "federation: up to date public/" in out
    assert os.stat(repo / "public").st_ino == before


def test_one_changed_module_rewrites_only_its_part(repo: Path) -> None:
    """After a change to docs, home's and shop's files are the very same (hard-linked) files."""
    doit_ok(repo)
    inode = {rel: (repo / "public" / rel).stat().st_ino
             for rel in ("index.html", "products/shop/index.html", "docs/index.html")}
    write(repo, "docs", "guide/index.html", page("guide v2", '<a href="/">docs home</a>'))
    out = doit_ok(repo)
    assert "build:docs ok" in out and "build:home up to date" in out
    result = json.loads((repo / ".fedbuild/federate/result.json").read_text())
    assert (result["processed"], result["reused"]) == (4, 5)
    assert (repo / "public/index.html").stat().st_ino == inode["index.html"]
    assert (repo / "public/products/shop/index.html").stat().st_ino == \
        inode["products/shop/index.html"]
    assert "guide v2" in (repo / "public/docs/guide/index.html").read_text()
    assert '<a href="/docs/">' in (repo / "public/docs/guide/index.html").read_text()
    sha256sum_ok(repo / "public")


def test_published_file_edited_by_hand_is_restored(repo: Path) -> None:
    """Editing or deleting a published file makes federate run and put it back."""
    doit_ok(repo)
    good = (repo / "public/about.html").read_text()
    (repo / "public/about.html").write_text("defaced")
    (repo / "public/docs/guide/index.html").unlink()
    out = doit_ok(repo)
    assert "federate ok" in out
    assert (repo / "public/about.html").read_text() == good
    assert (repo / "public/docs/guide/index.html").is_file()
    sha256sum_ok(repo / "public")


def test_root_module_listed_last_never_replaces_deeper_folders(repo: Path) -> None:
    """home (at /, last in the manifest) also writes docs/ files: docs's folder stays docs's."""
    write(repo, "home", "docs/index.html", page("home's docs page"))
    write(repo, "home", "docs/stray.html", page("home's stray page"))
    out = doit_ok(repo)
    assert "docs v1" in (repo / "public/docs/index.html").read_text()
    assert not (repo / "public/docs/stray.html").exists()
    assert "2 collisions" in out
    collisions = records(repo)["collisions"]
    assert {(c["path"], c["kept"], c["dropped"]) for c in collisions} == {
        ("docs/index.html", "docs", "home"), ("docs/stray.html", "docs", "home")}
    log = (repo / ".fedbuild/logs/federate/federate.log").read_text()
    assert "collision: docs/index.html: docs's file replaces home's" in log


@pytest.mark.parametrize(("strategy", "shared", "home_only"), [
    ("overwrite", "docs", False),  # docs's folder becomes exactly its output
    ("merge", "docs", True),  # docs's files win, home's other files stay
    ("preserve", "home", True),  # files already there (home's) win
])
def test_merge_strategies(repo: Path, strategy: str, shared: str, home_only: bool) -> None:
    """home writes docs/shared.html and docs/home-only.html; docs writes docs/shared.html."""
    write(repo, "home", "docs/shared.html", page("shared by home"))
    write(repo, "home", "docs/home-only.html", page("home only"))
    write(repo, "docs", "shared.html", page("shared by docs"))
    set_strategy(repo, "docs", strategy)
    doit_ok(repo)
    assert f"shared by {shared}" in (repo / "public/docs/shared.html").read_text()
    assert (repo / "public/docs/home-only.html").exists() == home_only
    assert "docs v1" in (repo / "public/docs/index.html").read_text()
    collision = next(c for c in records(repo)["collisions"] if c["path"] == "docs/shared.html")
    assert collision["kept"] == shared
    sha256sum_ok(repo / "public")


def test_merge_strategy_error_refuses_a_collision_and_keeps_the_old_tree(repo: Path) -> None:
    """With 'error', a collision names both modules and the path; the published tree stays."""
    doit_ok(repo)
    before = tree(repo)
    write(repo, "home", "docs/shared.html", page("shared by home"))
    write(repo, "docs", "shared.html", page("shared by docs"))
    set_strategy(repo, "docs", "error")
    result = run_doit(repo)
    assert result.returncode == 1
    assert ("docs/shared.html is written by module home and by module docs; merge_strategy "
            "'error' forbids collisions") in result.stdout
    assert "federation: kept old tree public/: merge conflict" in result.stdout
    assert tree(repo) == before


def test_failed_module_keeps_its_published_files(repo: Path) -> None:
    """docs fails: home's change is published, docs's last published files stay, marked stale."""
    doit_ok(repo)
    docs_before = {k: v for k, v in tree(repo).items() if k.startswith("docs/")}
    published_at = records(repo)["by_name"]["docs"]["published_at"]
    (repo / "modules/docs/FAIL").write_text("the docs build broke")
    write(repo, "home", "about.html", page("about v2", '<a href="/">home</a>'))
    result = run_doit(repo)
    assert result.returncode == 1
    assert "build:docs failed" in result.stdout and "federate ok" in result.stdout
    assert "  /docs/           docs  failed (stale) (4 files)" in result.stdout
    assert "about v2" in (repo / "public/about.html").read_text()
    assert {k: v for k, v in tree(repo).items() if k.startswith("docs/")} == docs_before
    docs = records(repo)["by_name"]["docs"]
    assert docs["status"] == "failed (stale)" and docs["build"]["status"] == "failed"
    assert docs["published_at"] == published_at and docs["files"] == 4
    sha256sum_ok(repo / "public")
    # Still failing: nothing else changed, so nothing to do but report the failure again.
    again = run_doit(repo)
    assert again.returncode == 1 and "federate up to date" in again.stdout
    # Fixed: docs builds and is published again.
    (repo / "modules/docs/FAIL").unlink()
    out = doit_ok(repo)
    assert "federate ok" in out and records(repo)["by_name"]["docs"]["status"] == "published"


def test_module_failing_before_its_first_publish_is_left_out(repo: Path) -> None:
    """A module that never built is recorded as not published; the others go live."""
    (repo / "modules/shop/FAIL").write_text("no shop yet")
    write(repo, "home", "index.html", page("home", '<a href="/docs/">docs</a>'))
    write(repo, "docs", "index.html", page("docs", '<a href="/guide/">guide</a>'))
    result = run_doit(repo)
    assert result.returncode == 1
    assert (repo / "public/docs/index.html").is_file()
    assert not (repo / "public/products").exists()
    assert records(repo)["by_name"]["shop"]["status"] == "failed (not published)"


def test_broken_link_keeps_the_old_tree_and_names_the_page(repo: Path) -> None:
    """A link to a missing file fails validation: each broken link is reported with its page.
    Here the module's own broken links are errors (by default they are warnings:
    tests/e2e/test_link_policy.py)."""
    doit_ok(repo)
    before = tree(repo)
    edit_manifest(repo, lambda d: d["federation"].update(
        validation={"module_links": "error"}))
    write(repo, "docs", "guide/index.html",
          page("guide v2", '<a href="/guide/missing.html">x</a><img src="/nowhere.png">'))
    result = run_doit(repo)
    assert result.returncode == 1
    assert "federate kept the published tree public/ as it was: validation failed" in \
        result.stdout
    # Not docs's own file, so not prefixed: the link stays as written, and points nowhere.
    assert "docs/guide/index.html: broken link /guide/missing.html" in result.stdout
    assert "docs/guide/index.html: broken link /nowhere.png" in result.stdout
    assert tree(repo) == before
    assert not list(repo.glob(".public.*"))  # the rejected tree was removed


def test_missing_index_page_fails_validation(repo: Path) -> None:
    """Every module's destination must hold an index page."""
    (repo / "modules/shop/pages/index.html").rename(repo / "modules/shop/pages/start.html")
    write(repo, "home", "index.html", page("home"))
    write(repo, "docs", "index.html", page("docs"))
    result = run_doit(repo)
    assert result.returncode == 1
    assert "products/shop/: module shop has no index page at /products/shop/" in result.stdout
    assert not (repo / "public").exists()


def test_symlink_out_of_the_repository_is_refused_before_anything_builds(repo: Path) -> None:
    """A module source linking out of the repository is one line at load: never read, never
    published, the last published tree kept."""
    doit_ok(repo)
    before = (repo / "public/docs/index.html").read_bytes()
    os.symlink("/etc/passwd", repo / "modules/docs/pages/passwd")
    result = run_doit(repo)
    assert result.returncode == 3
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "modules/docs/pages/passwd" in errors[0], result.stderr
    assert not (repo / "public/docs/passwd").exists()
    assert (repo / "public/docs/index.html").read_bytes() == before


def test_symlink_out_of_the_tree_fails_validation(repo: Path) -> None:
    """A module output holding a symlink that stays in the repository but leaves the
    published tree is never published."""
    doit_ok(repo)
    (repo / "modules/secret").write_text("not for the site\n")
    os.symlink("../../../secret", repo / "modules/docs/pages/img/up")
    result = run_doit(repo)
    assert result.returncode == 1
    assert "docs/img/up: symlink to ../../../secret escapes the published tree" in result.stdout
    assert not (repo / "public/docs/img/up").exists()


def test_symlink_inside_the_tree_is_published(repo: Path) -> None:
    """A relative symlink to a file of the tree is kept, and checksummed as its target."""
    os.symlink("logo.png", repo / "modules/docs/pages/img/alias.png")
    doit_ok(repo)
    assert os.readlink(repo / "public/docs/img/alias.png") == "logo.png"
    sha256sum_ok(repo / "public")


def test_preserve_base_site_keeps_files_no_module_owns(repo: Path) -> None:
    """strategy preserve-base-site keeps files already published that no module owns."""
    edit_manifest(repo, lambda d: d["federation"].update(strategy="preserve-base-site"))
    (repo / "public/legacy").mkdir(parents=True)
    (repo / "public/legacy/index.html").write_text(page("legacy"))
    (repo / "public/robots.txt").write_text("User-agent: *\n")
    (repo / "public/about.html").write_text("old about, replaced by home's")
    doit_ok(repo)
    assert (repo / "public/legacy/index.html").read_text() == page("legacy")
    assert (repo / "public/robots.txt").is_file()
    assert "about v1" in (repo / "public/about.html").read_text()
    # A module file that is later removed goes away; base files stay.
    (repo / "modules/home/pages/about.html").unlink()
    write(repo, "home", "index.html", page("home", '<a href="/docs/">docs</a>'))
    doit_ok(repo)
    assert not (repo / "public/about.html").exists()
    assert (repo / "public/robots.txt").is_file()
    sha256sum_ok(repo / "public")


def test_default_strategy_replaces_whatever_was_published(repo: Path) -> None:
    """download-merge-deploy: the published tree is exactly the modules' outputs."""
    (repo / "public").mkdir()
    (repo / "public/robots.txt").write_text("User-agent: *\n")
    doit_ok(repo)
    assert not (repo / "public/robots.txt").exists()


def test_output_dir_from_the_manifest(repo: Path) -> None:
    """federation.output_dir puts the published tree elsewhere."""
    edit_manifest(repo, lambda d: d["federation"].update(output_dir="site/www"))
    out = doit_ok(repo)
    assert "federation: published site/www/" in out
    assert (repo / "site/www/docs/index.html").is_file()
    sha256sum_ok(repo / "site/www")


def test_clean_federate_removes_the_published_tree(repo: Path) -> None:
    """`doit clean federate` removes public/; the next `doit` publishes it again."""
    doit_ok(repo)
    doit_ok(repo, "clean", "federate")
    assert not (repo / "public").exists()
    out = doit_ok(repo)
    assert "federate ok" in out and (repo / "public/index.html").is_file()


def test_list_describes_federate(repo: Path) -> None:
    """`doit list` shows what federate does."""
    out = doit_ok(repo, "list")
    assert "federate" in out and "merge the site modules into public/" in out


def test_a_site_module_can_add_steps_after_its_build(repo: Path) -> None:
    """A site module's own step (a check of its staged output) runs after build:docs."""
    def add_step(data: dict[str, Any]) -> None:
        data["modules"][0]["steps"] = [{
            "name": "linkcheck", "depends_on": ["build"],
            "argv": ["python3", "-c", "import os, sys; sys.exit(not os.path.isfile(sys.argv[1]))",
                     "{root}/.fedbuild/staging/docs/index.html"]}]
    edit_manifest(repo, add_step)
    out = doit_ok(repo)
    assert out.index("build:docs ok") < out.index("linkcheck:docs started")
    assert "linkcheck:docs ok" in out
