"""Paths into a build's temporary copy mapped back to the inputs they copy."""

from __future__ import annotations

from pathlib import Path

from tasks.temp_paths import TempPaths

ROOT = Path("/repo")
WORK = ROOT / ".fedbuild/tmp/home-abc"
INPUTS = ["site/templates/default/content/_index.md", "site/themes/t/layouts/baseof.html",
          "site/templates/default/layouts/index.html", "modules/home/content/_index.md",
          "modules/home/content/bad.md"]


def paths() -> TempPaths:
    return TempPaths(WORK, ROOT, INPUTS, ROOT / "modules/home")


def test_a_content_file_maps_to_the_module_not_the_template() -> None:
    text = f'"{WORK}/tmp/fedbuild-site.X/site/content/_index.md:4:1": bad'
    assert paths().map(text) == '"modules/home/content/_index.md:4:1": bad'


def test_theme_and_template_files_map_to_the_assets() -> None:
    text = (".fedbuild/tmp/home-abc/tmp/s/site/themes/t/layouts/baseof.html:3:2 and "
            f"{WORK}/tmp/s/site/layouts/index.html")
    assert paths().map(text) == ("site/themes/t/layouts/baseof.html:3:2 and "
                                 "site/templates/default/layouts/index.html")


def test_paths_that_copy_no_input_stay() -> None:
    text = f"--output {WORK}/out and /elsewhere/site/content/bad.md"
    assert paths().map(text) == text


def test_the_log_is_rewritten(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    log.write_text(f"Error: {WORK}/tmp/s/site/content/bad.md:6:1: oops\n")
    paths().rewrite_log(log)
    assert log.read_text() == "Error: modules/home/content/bad.md:6:1: oops\n"
