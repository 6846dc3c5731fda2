"""Files the campaign of issue 16 found crashing or hanging `doit list`: each is now one line.

Every case runs the real `doit list` on a copy of the basic fixture with one file made
hostile, and expects exit code 3 with exactly one `ERROR:` line naming that file.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from federation.loader import SITE_ONLY
from tests.conftest import copy_fixture, run_doit
from tests.robustness.doit_list import doit_list

ALPHA = "modules/alpha/module.json"
TOOLCHAIN = "toolchains/mine.yaml"
CONTENT = "modules/alpha/content"
MINE = """description: a repository toolchain
steps:
  - name: build
    description: "copy the module"
    argv: ["{python}", "-c", "pass"]
"""


def alpha_config(**hugo: object) -> Callable[[Path], None]:
    """Write alpha's module.json with these hugo_config values."""
    def write(repo: Path) -> None:
        (repo / ALPHA).write_text(json.dumps({"name": "alpha", "hugo_config": hugo}))
    return write


def write_text(name: str, text: str) -> Callable[[Path], None]:
    """Write a file of the repository as is (raw JSON or YAML text)."""
    def write(repo: Path) -> None:
        (repo / name).write_text(text)
    return write


def with_toolchain(text: str) -> Callable[[Path], None]:
    """Make module gamma a module of toolchain `mine`, whose file is `text`."""
    def write(repo: Path) -> None:
        data = json.loads((repo / "modules.json").read_text())
        data["modules"][2].update(toolchain="mine")
        for field in SITE_ONLY:  # a site's fields are refused on a toolchain module
            data["modules"][2].pop(field, None)
        (repo / "modules.json").write_text(json.dumps(data))
        (repo / "toolchains").mkdir()
        (repo / TOOLCHAIN).write_text(text)
    return write


def manifest_value(key: str, value: object) -> Callable[[Path], None]:
    """Set federation.<key> in modules.json."""
    def write(repo: Path) -> None:
        data = json.loads((repo / "modules.json").read_text())
        data["federation"][key] = value
        (repo / "modules.json").write_text(json.dumps(data))
    return write


def deep_json(depth: int) -> str:
    """A modules.json-shaped object holding a list nested `depth` levels."""
    return '{"x": ' + "[" * depth + "]" * depth + "}"


NAME_RULE = "name: give the name of a folder in the assets folder's"
CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    # item 6: template, theme and component names are names
    "theme-absolute": (alpha_config(theme="/some/dir"),
                       f"{ALPHA}: hugo_config.theme: '/some/dir' is not a theme {NAME_RULE}"),
    "template-walks-root": (alpha_config(template="/./"),
                            f"{ALPHA}: hugo_config.template: '/./' is not a template"),
    "template-passwd": (alpha_config(template="/etc/passwd"),
                        f"{ALPHA}: hugo_config.template: '/etc/passwd' is not a template"),
    "theme-climbs": (alpha_config(theme="../../../../etc"),
                     f"{ALPHA}: hugo_config.theme: '../../../../etc' is not a theme"),
    "theme-dotdot": (alpha_config(theme=".."), f"{ALPHA}: hugo_config.theme: '..' is not"),
    "component-escapes": (alpha_config(components=["note", "../x"]),
                          f"{ALPHA}: hugo_config.components[1]: '../x' is not a component"),
    "theme-huge": (alpha_config(theme="t" * 100_000), f"{ALPHA}: hugo_config.theme: 'tttt"),
    "theme-nul": (alpha_config(theme="a\0b"), f"{ALPHA}: hugo_config.theme: 'a\\x00b' holds "
                  "a NUL character"),
    "theme-surrogate": (write_text(ALPHA, '{"hugo_config": {"theme": "\\ud800"}}'),
                        f"{ALPHA}: hugo_config.theme: '\\ud800' holds a lone surrogate"),
    "template-control": (alpha_config(template="a\x1bb"),
                         f"{ALPHA}: hugo_config.template: 'a\\x1bb' is not a template"),
    "override-absolute": (lambda repo: _override(repo, template="/"),
                          "modules.json: modules[0].overrides.template: '/' is not a template"),
    # item 8: nesting, sizes, numbers and text no parser or printer survives
    "manifest-deep": (write_text("modules.json", deep_json(100_000)),
                      "modules.json: line 1 column 70: nested more than 64 levels deep"),
    "module-json-deep": (write_text(ALPHA, deep_json(5000)),
                         f"{ALPHA}: line 1 column 70: nested more than 64 levels deep"),
    "manifest-huge-integer": (write_text("modules.json", '{"x": ' + "9" * 5000 + "}"),
                              "modules.json: line 1 column 7: invalid JSON: a number of more "
                              "than 4300 digits"),
    "module-json-huge-integer": (write_text(ALPHA, '{"site": {"title": 1' + "0" * 4400 + "}}"),
                                 f"{ALPHA}: line 1 column 20: invalid JSON: a number of more"),
    "manifest-surrogate": (manifest_value("name", "\ud800"),
                           "modules.json: federation.name: '\\ud800' holds a lone surrogate"),
    "manifest-surrogate-key": (write_text("modules.json", '{"\\udfff": 1}'),
                               "modules.json: '\\udfff' holds a lone surrogate"),
    "manifest-nul": (manifest_value("name", "a\0b"),
                     "modules.json: federation.name: 'a\\x00b' holds a NUL character"),
    "manifest-too-large": (write_text("modules.json", " " * (17 * 1024 * 1024) + "{}"),
                           "modules.json: is larger than 16 MB"),
    "module-json-not-utf8": (lambda repo: _write_bytes(repo / ALPHA, b'{"a": "\xff"}'),
                             f"{ALPHA}: cannot be read: not UTF-8 text (byte 7"),
    "module-json-is-a-folder": (lambda repo: _replace_with_folder(repo / ALPHA),
                                "modules.json: modules[0].module_json: 'module.json' not found"),
    "module-json-name-too-long": (
        lambda repo: _set_module(repo, module_json="m" * 300),
        f"modules.json: modules[0].module_json: '{'m' * 54}...m' is too long for a path"),
    "source-path-too-long": (lambda repo: _set_source(repo, path="p" * 5000),
                             "modules.json: modules[0].source.path: 'ppppp"),
    # "\udcff" is how Python names the byte 0xff of a file name that is not UTF-8
    "file-name-not-utf8": (lambda repo: _write_bytes(repo / CONTENT / "\udcff.md", b"x"),
                           "modules/alpha/content/\\udcff.md: its name is not UTF-8 text"),
    "module-json-link-too-long": (lambda repo: _relink(repo / ALPHA, "x" * 300),
                                  "modules.json: modules[0].module_json: 'module.json' not "
                                  "found in modules/alpha"),
    "source-is-a-symlink-loop": (lambda repo: _relink(repo / "modules/alpha", "alpha"),
                                 "modules.json: modules[0].source.path: modules/alpha does "
                                 "not exist or is not a folder"),
    "theme-is-a-file": (lambda repo: _theme_file(repo),
                        ""),  # a file where a theme folder should be: not an error, no crash
    "yaml-deep-flow": (with_toolchain("[" * 50_000),
                       f"{TOOLCHAIN}: line 1 column 65: nested more than 64 levels deep"),
    "yaml-deep-block": (with_toolchain("- " * 50_000 + "x\n"),
                        f"{TOOLCHAIN}: line 1 column 129: nested more than 64 levels deep"),
    "yaml-alias-bomb": (with_toolchain(
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
                  for p, n in zip("abcdefgh", "bcdefghi", strict=True))),
        f"{TOOLCHAIN}: line 6 column 36: stands for more than 1,000,000 values"),
    "yaml-alias-loop": (with_toolchain("steps: &s [*s]\n"),
                        f"{TOOLCHAIN}: line 1 column 12: *s is inside the value it names"),
    "yaml-huge-integer": (with_toolchain("description: " + "7" * 5000 + "\n"),
                          f"{TOOLCHAIN}: line 1 column 14: a number of more than 4300 digits"),
    "yaml-bad-date": (with_toolchain("description: 2020-13-45\n"),
                      f"{TOOLCHAIN}: invalid YAML value: month must be in 1..12"),
    "yaml-surrogate": (with_toolchain(MINE.replace('"copy the module"', '"\\ud800"')),
                       f"{TOOLCHAIN}: steps[0].description: '\\ud800' holds a lone surrogate"),
    "toolchain-fifo": (lambda repo: _fifo(repo, with_toolchain(MINE)),
                       f"{TOOLCHAIN}: is not a regular file"),  # reading it blocked forever
    "yaml-glob-classes": (with_toolchain(MINE + 'inputs: ["[z-a]", "[\\\\]*", "[!a]"]\n'),
                          ""),  # classes that copied into a regex did not compile: listed
    "yaml-nul": (with_toolchain(MINE.replace('"copy the module"', '"a\\0b"')),
                 f"{TOOLCHAIN}: steps[0].description: 'a\\x00b' holds a NUL character"),
}


def _write_bytes(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _override(repo: Path, **overrides: object) -> None:
    _set_module(repo, overrides=overrides)


def _set_module(repo: Path, **fields: object) -> None:
    data = json.loads((repo / "modules.json").read_text())
    data["modules"][0].update(fields)
    (repo / "modules.json").write_text(json.dumps(data))


def _set_source(repo: Path, **fields: object) -> None:
    data = json.loads((repo / "modules.json").read_text())
    data["modules"][0]["source"].update(fields)
    (repo / "modules.json").write_text(json.dumps(data))


def _replace_with_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path.parent / "module.json" / "x").write_text("{}")


def _relink(path: Path, target: str) -> None:
    """Replace a file or folder by a symlink to `target`."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    os.symlink(target, path)


def _fifo(repo: Path, setup: Callable[[Path], None]) -> None:
    setup(repo)
    (repo / TOOLCHAIN).unlink()
    os.mkfifo(repo / TOOLCHAIN)


def _theme_file(repo: Path) -> None:
    (repo / "site/themes/flat").write_text("not a folder")
    alpha_config(theme="flat")(repo)


# Every tenth case runs a real `doit list` process; the others the same DoitMain and dodo.py
# in a forked child (tests/robustness/doit_list.py): the error comes from loading dodo.py
# in both, and a fork skips an interpreter's start and imports.
REAL = set(sorted(CASES)[::10])


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_file_is_one_line(case: str, tmp_path: Path) -> None:
    """`doit list` ends with exit 3 and the one line expected, or (for an expected "") lists."""
    repo = copy_fixture("basic", tmp_path / "repo")
    setup, expected = CASES[case]
    setup(repo)

    result = run_doit(repo, "list", timeout=60) if case in REAL else doit_list(repo, 60)

    output = result.stdout + result.stderr
    assert "Traceback" not in output
    if not expected:
        assert result.returncode == 0, output
        assert result.stderr == ""
        return
    assert result.returncode == 3, output
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"ERROR: {expected}"), result.stderr
    assert result.stdout == ""
