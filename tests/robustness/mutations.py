"""Hypothesis strategies that break a valid repository the ways a careless user or an
attacker would: its modules.json, a module.json and a toolchain YAML file mutated (types
changed, fields deleted or added, huge, deep and hostile values, broken text), and
symlinks planted among a module's files."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from tests.conftest import copy_fixture

MANIFEST = "modules.json"
MODULE_JSON = "modules/alpha/module.json"
TOOLCHAIN = "toolchains/mine.yaml"
FILES = (MANIFEST, MODULE_JSON, TOOLCHAIN)

MINE = """# A repository toolchain, used by module delta.
description: the fuzzed repository's own toolchain
tool:
  command: "{python}"
  version: ["{python}", "--version"]
  install: "it is the Python running fedbuild"
inputs: ["src/**", "*.cfg"]
skip_dirs: [target]
env:
  MINE_MODE: "{mode}"
modes:
  development: {flags: []}
  production: {flags: [--optimize]}
  test: {flags: []}
project_files: [delta.cfg]
steps:
  - name: build
    description: "build delta"
    argv: ["{python}", "-c", "pass", "{flags}", "{out}"]
    outputs: ["{out}/delta.txt"]
  - name: test
    description: "test delta"
    depends_on: [build]
    commands: [["{python}", "-c", "pass"], ["{python}", "-c", "pass", "{dist}"]]
    skip_if: {mode: [production]}
    default: false
"""

DELTA = {"name": "delta", "source": {"repository": "local", "path": "modules/delta"},
         "toolchain": "mine", "env": {"GREETING": "hi"}, "inputs": ["extra/*.txt"],
         "steps": [{"name": "lint", "argv": ["{python}", "-c", "pass"], "inputs": ["src/*"]}],
         "outputs": ["delta.txt", {"path": "delta.txt", "max_bytes": 1000}]}


def base_repository(dest: Path) -> Path:
    """The basic fixture with a toolchain of its own and a module `delta` that uses it."""
    repo = copy_fixture("basic", dest)
    manifest = json.loads((repo / MANIFEST).read_text())
    manifest["modules"].append(DELTA)
    manifest["modules"][1]["overrides"] = {"title": "Beta", "theme": "plain"}
    (repo / MANIFEST).write_text(json.dumps(manifest, indent=2))
    (repo / "toolchains").mkdir()
    (repo / TOOLCHAIN).write_text(MINE)
    for name, text in (("src/a.txt", "a"), ("src/deep/b.txt", "b"), ("delta.cfg", "x=1"),
                       ("extra/e.txt", "e")):
        (repo / "modules/delta" / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / "modules/delta" / name).write_text(text)
    return repo


class Raw:
    """Text put into a file as is, where a value would be: what json.dumps cannot write."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:20]!r}, {len(self.text)} chars)"


HOSTILE_STRINGS = [
    "", " ", "/", "/./", "/etc/passwd", "/etc", "..", "../..", "../../../../etc/passwd",
    "modules/../../x", "./", ".", "~", "~/x", "C:\\Windows", "\\\\server\\share", "-rf",
    "--help", "x\nERROR: fake second line", "\x1b[2J\x1b[31mred", "a\0b", "\0", "\ud800",
    "x\udcff", "\u202eevil", "\u2028", "\ufeff", "名前", "{root}", "{out}", "{nope}", "{",
    "}", "{{root}}", "$HOME", "$(reboot)", "`id`", "; rm -rf /", "*", "**", "**/*", "[",
    "[z-a]", "[!", "?", "%s%n", "modules/alpha", "modules/beta/module.json", "module.json",
    "content", "scripts/build.sh", "public", ".fedbuild", "toolchains", "build.sh",
    "command", "mine", "esp-idf", "esp32", "production", "overwrite", "/docs/", "/",
    "https://example.org", "http://[::1", "file:///etc", "redis://x", "5GB", "1e999",
    "local", "main", "x" * 300, "é" * 200, "a/" * 600,
]


def raw_values() -> st.SearchStrategy[Raw]:
    """Numbers and nesting that no serializer writes: huge integers, deep brackets."""
    return st.one_of(
        st.builds(lambda n: Raw("9" * n), st.sampled_from([4299, 4301, 5000, 100_000])),
        st.builds(lambda n: Raw("-1" + "0" * n), st.sampled_from([4300, 10_000])),
        st.sampled_from([Raw("1e999"), Raw("-1e999"), Raw("NaN"), Raw("Infinity"),
                         Raw("1.7976931348623157e309"), Raw("0.0000001e-400")]),
        st.builds(lambda n: Raw("[" * n + "]" * n), st.sampled_from([63, 64, 65, 1000, 100_000])),
        st.builds(lambda n: Raw('{"a": ' * n + "1" + "}" * n), st.sampled_from([65, 5000])),
    )


def scalars() -> st.SearchStrategy[Any]:
    """Every kind of JSON scalar, hostile text included (surrogates, controls, NUL)."""
    return st.one_of(
        st.none(), st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(st.characters(exclude_categories=()), max_size=30),
        st.sampled_from(HOSTILE_STRINGS),
        st.builds(lambda n: "n" * n, st.sampled_from([255, 256, 4096, 100_000])),
    )


def values() -> st.SearchStrategy[Any]:
    """Scalars, raw text, and small lists and objects of them."""
    return st.one_of(
        scalars(), raw_values(),
        st.recursive(scalars(), lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.one_of(st.sampled_from(["name", "path", "argv", "steps",
                                                        "inputs", "x"]), st.text(max_size=5)),
                            inner, max_size=4)),
            max_leaves=8),
    )


def _places(document: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every value in `document`, the document itself first."""
    found = [at]
    items = document.items() if isinstance(document, dict) else (
        enumerate(document) if isinstance(document, list) else ())
    for key, value in items:
        found += _places(value, (*at, key))
    return found


def _replaced(document: Any, at: tuple[Any, ...], change: Callable[[Any], Any]) -> Any:
    """`document` with the value at path `at` replaced by change(value) (copies on the way)."""
    if not at:
        return change(document)
    copy: Any = dict(document) if isinstance(document, dict) else list(document)
    copy[at[0]] = _replaced(copy[at[0]], at[1:], change)
    return copy


def mutate(data: st.DataObject, document: Any) -> Any:
    """One change at a place drawn among all the document's values: replaced by a value of
    any type, deleted, given an unknown field or another item, or wrapped in a list."""
    at = data.draw(st.sampled_from(_places(document)), label="at")
    action = data.draw(st.sampled_from(["replace", "replace", "delete", "add", "wrap"]),
                       label="action")
    if action == "delete" and at:
        def delete(parent: Any) -> Any:
            copy = dict(parent) if isinstance(parent, dict) else list(parent)
            del copy[at[-1]]
            return copy
        return _replaced(document, at[:-1], delete)
    if action == "add":
        extra = data.draw(values(), label="added")
        name = data.draw(st.one_of(st.sampled_from(["nmae", "stpes", "$schema", "extra",
                                                    "hugo_config", "build", "steps"]),
                                   st.text(st.characters(exclude_categories=()), max_size=8)),
                         label="field")

        def add(value: Any) -> Any:
            if isinstance(value, dict):
                return {**value, name: extra}
            return [*value, extra] if isinstance(value, list) else value
        return _replaced(document, at, add)
    if action == "wrap":
        return _replaced(document, at, lambda value: [value])
    replacement = data.draw(values(), label="value")
    return _replaced(document, at, lambda _: replacement)


def _placeholders(document: Any, raws: list[Raw]) -> Any:
    """The document with each Raw replaced by a placeholder string, collected in `raws`."""
    if isinstance(document, Raw):
        raws.append(document)
        return f"@@RAW{len(raws) - 1}@@"
    if isinstance(document, dict):
        return {k: _placeholders(v, raws) for k, v in document.items()}
    if isinstance(document, list):
        return [_placeholders(v, raws) for v in document]
    return document


def to_json(document: Any) -> str:
    """JSON text of a mutated document (surrogates as \\u escapes, Raw values as is)."""
    raws: list[Raw] = []
    text = json.dumps(_placeholders(document, raws), ensure_ascii=True, allow_nan=True)
    for i, raw in enumerate(raws):
        text = text.replace(f'"@@RAW{i}@@"', raw.text)
    return text


def to_yaml(document: Any) -> str:
    """YAML text of a mutated document (unprintable characters escaped, Raw values as is)."""
    raws: list[Raw] = []
    text = yaml.safe_dump(_placeholders(document, raws), allow_unicode=False)
    for i, raw in enumerate(raws):
        text = text.replace(f"'@@RAW{i}@@'", raw.text).replace(f"@@RAW{i}@@", raw.text)
    return text


WHOLE_YAML = [
    "[" * 50_000, "- " * 50_000 + "x\n", "{a: " * 5000, "steps: &s [*s]\n",
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)),
    "steps: !!python/object/apply:os.system ['echo pwned']\n", "description: !!binary AAAA\n",
    "description: !!set {a, b}\n", "description: 2020-13-45\n", "? [a, b]\n: c\n",
    "--- a\n--- b\n", "%YAML 9.9\n--- {}\n", "\tsteps: []\n", "\ufeffsteps: []\n",
    "steps:\n  - name: build\n    argv: [x]\n  - name: build\n    argv: [y]\n",
    "steps: [{name: a, argv: [x], depends_on: [a]}]\n", "description: " + "7" * 5000 + "\n",
    "<<: *nope\n", "env: {1: 2, null: x, 2020-01-01: d}\n", "steps: {}\n", "~\n", "[]\n",
    "description: \"\\ud800\"\n", "description: \"a\\0b\"\n", "description: \"\\x1b[2J\"\n",
]


def broken_text(data: st.DataObject, text: str) -> bytes:
    """Damage done to the bytes of a file: cut short, a byte or a BOM inserted."""
    raw = text.encode("utf-8", "surrogatepass")
    cut = data.draw(st.integers(0, len(raw)), label="position")
    kind = data.draw(st.sampled_from(["truncate", "byte", "bom", "huge"]), label="damage")
    if kind == "truncate":
        return raw[:cut]
    if kind == "byte":
        return raw[:cut] + data.draw(st.sampled_from([b"\0", b"\xff", b"\xc3", b"\x1b",
                                                      b"\n", b'"', b"\\"])) + raw[cut:]
    if kind == "bom":
        return b"\xef\xbb\xbf" + raw
    return b" " * (16 * 1024 * 1024) + raw


def mutated_file(data: st.DataObject, repo: Path) -> str:
    """Mutate one of the repository's three configuration files; return its name."""
    name = data.draw(st.sampled_from(FILES), label="file")
    path = repo / name
    text = path.read_text()
    how = data.draw(st.sampled_from(["document"] * 6 + ["text", "whole"]), label="how")
    if how == "whole" and name == TOOLCHAIN:
        path.write_text(data.draw(st.sampled_from(WHOLE_YAML), label="yaml"),
                        errors="surrogatepass")
    elif how == "text":
        path.write_bytes(broken_text(data, text))
    else:
        document = json.loads(text) if name != TOOLCHAIN else yaml.safe_load(text)
        for _ in range(data.draw(st.integers(1, 3), label="changes")):
            document = mutate(data, document)
        out = to_yaml(document) if name == TOOLCHAIN else to_json(document)
        path.write_bytes(out.encode("utf-8", "surrogatepass"))
    return name


LINK_TARGETS = ["../../beta/content", "../../../modules/beta", "../extra", ".", "..",
                "../../..", "../../../..", "/", "/etc", "/etc/passwd", "/dev/zero",
                "/proc/self/fd/0", "missing", "self", "one.md", "../module.json",
                "../../../scripts/build.sh", "../../../site/themes", "{outside}",
                "{outside}/file.txt", "x" * 300]
LINK_PLACES = ["modules/alpha/content", "modules/alpha", "modules/delta/src",
               "modules/delta", "site/themes", "site/templates/default", "toolchains"]


def planted_links(data: st.DataObject, repo: Path, outside: Path) -> list[str]:
    """Symlinks and FIFOs planted among the repository's files (some replacing a file that
    was there: a module.json, the toolchain); their paths."""
    planted = []
    for i in range(data.draw(st.integers(1, 3), label="links")):
        place = repo / data.draw(st.sampled_from(LINK_PLACES), label="in")
        fifo = data.draw(st.integers(0, 4), label="fifo") == 0
        name = data.draw(st.sampled_from([f"link{i}", "self", "mine.yaml", "other.yaml",
                                          "module.json", "node_modules", "one.md",
                                          "\udcff.md"]),
                         label="named")
        path = place / name
        if os.path.lexists(path):
            if os.path.isdir(path) and not os.path.islink(path):
                continue
            path.unlink()
        if fifo:
            os.mkfifo(path)
        else:
            target = data.draw(st.sampled_from(LINK_TARGETS), label="to")
            os.symlink(target.replace("{outside}", str(outside)), path)
        planted.append(str(path.relative_to(repo)))
    return planted
