"""scripts/build.sh, run for real: Hugo builds of the example site modules."""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_SH = ROOT / "scripts" / "build.sh"
MODULES = ROOT / "modules"

pytestmark = pytest.mark.skipif(shutil.which("hugo") is None, reason="hugo is not installed")


def run_build(
    tmp_path: Path, *args: str, cwd: Path = ROOT, module: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run build.sh with TMPDIR in tmp_path and check it left no scratch files."""
    argv = [str(BUILD_SH)]
    if module is not None:
        argv += [
            "--config",
            str(MODULES / module / "module.json"),
            "--content",
            str(MODULES / module / "content"),
        ]
    scratch = tmp_path / "tmpdir"
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(scratch)}
    result = subprocess.run(
        [*argv, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert list(scratch.iterdir()) == [], "build.sh left files in TMPDIR"
    return result


def digests(folder: Path) -> dict[str, str]:
    """Map every file under folder (relative path) to its sha256."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def site_title(module: str) -> str:
    """The site title a module's module.json declares."""
    data = json.loads((MODULES / module / "module.json").read_text(encoding="utf-8"))
    return str(data["site"]["title"])


@pytest.mark.parametrize("module", ["home", "docs", "blog"])
def test_builds_each_example_module(tmp_path: Path, module: str) -> None:
    """Each example module renders an index.html carrying its title and the theme's CSS."""
    out = tmp_path / "out"
    result = run_build(tmp_path, "--output", str(out), module=module)
    assert result.returncode == 0, result.stderr
    page = html.unescape((out / "index.html").read_text(encoding="utf-8"))
    assert f"<title>{site_title(module)}</title>" in page
    assert (out / "css" / "style.css").is_file()
    assert "pages into" in result.stdout


def test_base_url_prefixes_links(tmp_path: Path) -> None:
    """--base-url (in --opt=value form) prefixes the CSS, page and canonical links."""
    out = tmp_path / "out"
    result = run_build(
        tmp_path, f"--output={out}", "--base-url=https://x.test/docs/", module="docs"
    )
    assert result.returncode == 0, result.stderr
    page = (out / "guide" / "install" / "index.html").read_text(encoding="utf-8")
    assert 'href="/docs/css/style.css"' in page
    assert 'href="/docs/guide/"' in page
    assert 'href="https://x.test/docs/guide/install/"' in page
    assert 'href="/css/' not in page
    assert (out / "css" / "components" / "notice.css").is_file()


def test_missing_theme_fails_naming_it(tmp_path: Path) -> None:
    """An unknown theme exits 1 with a one-line error naming it and renders nothing."""
    out = tmp_path / "out"
    result = run_build(tmp_path, "--output", str(out), "--theme", "no-such-theme", module="docs")
    assert result.returncode == 1
    assert "no-such-theme" in result.stderr
    assert "available: fedbuild" in result.stderr
    assert not (out / "index.html").exists()


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    """An unknown option exits 2 and names the option on stderr."""
    result = run_build(tmp_path, "--output", str(tmp_path / "out"), "--frobnicate", module="blog")
    assert result.returncode == 2
    assert "--frobnicate" in result.stderr


def test_help_exits_zero(tmp_path: Path) -> None:
    """--help prints the usage and succeeds."""
    result = run_build(tmp_path, "--help")
    assert result.returncode == 0
    assert "--config" in result.stdout


def test_hostile_title_is_literal_text(tmp_path: Path) -> None:
    """A title with $(...), backticks and quotes reaches the page verbatim and runs nothing."""
    title = """Evil $(touch pwned) `touch pwned2` "double" 'single' \\ end"""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out = tmp_path / "out"
    result = run_build(tmp_path, "--output", str(out), "--title", title, cwd=cwd, module="blog")
    assert result.returncode == 0, result.stderr
    page = html.unescape((out / "index.html").read_text(encoding="utf-8"))
    assert f"<title>{title}</title>" in page
    assert not list(tmp_path.rglob("pwned*"))
    assert not list(ROOT.glob("pwned*"))


def test_builds_are_reproducible(tmp_path: Path) -> None:
    """Two builds of the same module produce byte-identical files."""
    first, second = tmp_path / "first", tmp_path / "second"
    for out in (first, second):
        result = run_build(tmp_path, "--output", str(out), module="docs")
        assert result.returncode == 0, result.stderr
    assert digests(first) == digests(second)
    assert "index.html" in digests(first)


def test_sources_are_left_untouched(tmp_path: Path) -> None:
    """The module folder and the site assets gain no files (no lock, no resources/)."""
    watched = [MODULES / "docs", ROOT / "site", ROOT / "scripts"]
    before = [digests(folder) for folder in watched]
    result = run_build(tmp_path, "--output", str(tmp_path / "out"), module="docs")
    assert result.returncode == 0, result.stderr
    assert [digests(folder) for folder in watched] == before
    assert not (ROOT / ".hugo_build.lock").exists()
