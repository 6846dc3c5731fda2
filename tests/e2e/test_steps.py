"""Toolchain steps through real doit runs on the steps fixture.

Every step of the fixture runs tools/step.py, which appends "<task> start|end|failed
<time>" to the file named by $RUNS_LOG: what ran, in which order and side by side is
read from there, what it produced from dist/ and .fedbuild/work/, and what fedbuild
said from its progress lines. Modules: lib (generate -> build -> test, docs, publish),
app (depends on lib), tooled (the repository's `fake` toolchain, whose tool version is
tools/VERSION), snake (the repository's python.yaml, replacing fedbuild's), nap (two
1 s steps and an exclusive one), trouble (flaky, hanging), ghost (a tool that is not
installed) and elsewhere (another platform's).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from federation.platforms import host
from tests.conftest import doit_argv, edit_manifest, module, run_doit

Repo = Callable[[str], Path]
_EVENT = re.compile(r"^\[\d+/\d+\] (\S+) (ok|up to date|failed|timed out|skipped|flaky)\b(.*)$")
DEFAULT_RAN = {"generate:lib", "build:lib", "docs:lib", "build:app", "build:tooled",
               "build:snake"}


@dataclass(frozen=True)
class Run:
    """One doit run: its exit code, output, and the events its steps logged."""

    code: int
    out: str
    err: str
    events: list[tuple[str, str, float]]
    seconds: float

    @property
    def ran(self) -> set[str]:
        """The steps whose command started."""
        return {task for task, event, _ in self.events if event == "start"}

    def starts(self) -> list[str]:
        """Steps in the order their commands started."""
        return [task for task, event, _ in self.events if event == "start"]

    def span(self, task: str) -> tuple[float, float]:
        """When the task's command started and ended (its last attempt)."""
        start = max(t for name, event, t in self.events if name == task and event == "start")
        end = max(t for name, event, t in self.events if name == task and event != "start")
        return start, end

    @property
    def status(self) -> dict[str, str]:
        """Each task's final status line: 'ok', 'up to date', 'skipped (why)', ..."""
        found = {}
        for line in self.out.splitlines():
            match = _EVENT.match(line)
            if match:
                found[match.group(1)] = (match.group(2) + re.sub(r"^ [\d.]+s", "",
                                                                  match.group(3))).strip()
        return found


@pytest.fixture
def repo(monorepo: Repo) -> Path:
    """The steps fixture, not built yet."""
    return monorepo("steps")


def doit(repo: Path, *args: str) -> Run:
    """Run doit on the fixture with a fresh RUNS_LOG beside it."""
    runs_log = repo.parent / "runs.log"
    runs_log.write_text("")
    started = time.monotonic()
    result = run_doit(repo, *args, env={"RUNS_LOG": str(runs_log)})
    seconds = time.monotonic() - started
    events = [(task, event, float(t)) for task, event, t in
              (line.split() for line in runs_log.read_text().splitlines())]
    return Run(result.returncode, result.stdout, result.stderr, events, seconds)


def doit_ok(repo: Path, *args: str) -> Run:
    """Run doit; it must succeed."""
    run = doit(repo, *args)
    assert run.code == 0, run.out + run.err
    assert "Traceback" not in run.out + run.err
    return run



def step(data: dict[str, Any], module_name: str, step_name: str) -> dict[str, Any]:
    """A step of a module's `steps` in the manifest data."""
    return next(s for s in module(data, module_name)["steps"] if s["name"] == step_name)


def dist(repo: Path, mode: str = "development") -> dict[str, str]:
    """Every file under dist/<mode>/ and its text."""
    folder = repo / "dist" / mode
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def sources(repo: Path) -> dict[str, bytes]:
    """Every file of the fixture that is not an output or state."""
    return {str(p.relative_to(repo)): p.read_bytes() for p in sorted(repo.rglob("*"))
            if p.is_file() and p.relative_to(repo).parts[0] not in ("dist", ".fedbuild")}


def work(repo: Path, module_name: str, mode: str = "development") -> Path:
    """A module's {work} folder."""
    return repo / ".fedbuild" / "work" / mode / module_name


def other_platform() -> str:
    """A platform entry this host does not match."""
    return "linux-arm64" if host().name == "darwin-arm64" else "darwin-arm64"


# 1. Tasks, groups, descriptions and default tasks ---------------------------------------

def test_list_names_step_module_tasks_and_describes_them(repo: Path) -> None:
    """`doit list` shows `<step>:<module>`, a group per step name and what each runs."""
    out = doit_ok(repo, "list").out
    described = dict(line.split(None, 1) for line in out.splitlines())
    assert described["build:lib"] == \
        "build lib.txt and info.txt [command, development, in modules/lib]"
    assert described["generate:lib"] == \
        "generate gen.txt from src/*.txt [command, development, in modules/lib]"
    assert described["test:app"] == "test app [command, development, in modules/app]"
    assert described["build:tooled"] == \
        "faketool build of the module's text files [fake, development, in modules/tooled]"
    assert described["test"] == "the test step of every module having one (lib, app)"
    assert described["left"] == "the left step of every module having one (nap)"
    assert described["publish:lib"] == \
        "publish, once publish.cfg exists [skipped here: skip_if: publish.cfg is missing]"
    assert described["verify:lib"].startswith("check that the 2 declared artifacts of lib")
    assert "steps" not in described  # task_steps only holds the step groups
    assert "build:nap" not in described  # nap has no build step


def test_plain_doit_runs_the_default_steps_only(repo: Path) -> None:
    """Steps with `default: false` (test, left, flaky, run, ...) are not part of `doit`."""
    run = doit_ok(repo)
    assert run.ran == DEFAULT_RAN
    assert run.status["publish:lib"] == "skipped (skip_if: publish.cfg is missing)"
    assert run.status["build:elsewhere"].startswith("skipped (elsewhere builds only on")
    assert not {"test:lib", "test:app", "verify:lib", "left:nap", "run:ghost"} & set(run.status)
    assert "6 built, 2 skipped" in run.out


def test_a_build_step_with_default_false_is_not_run_by_plain_doit(repo: Path) -> None:
    """`default: false` holds for a build step too, not only for the other step names."""
    edit_manifest(repo, lambda d: module(d, "snake").update(
        steps=[{"name": "build", "default": False}]))
    run = doit_ok(repo)
    assert "build:snake" not in run.ran
    assert run.ran == DEFAULT_RAN - {"build:snake"}
    doit_ok(repo, "build:snake")  # still there when asked for by name
    assert (repo / "dist/development/snake/snake.txt").is_file()


def test_group_task_runs_every_modules_step(repo: Path) -> None:
    """`doit test` runs test:lib and test:app, and the builds they need, nothing else."""
    run = doit_ok(repo, "test")
    assert run.ran == {"generate:lib", "build:lib", "build:app", "test:lib", "test:app"}
    assert run.status["test:lib"] == "ok" and run.status["test:app"] == "ok"


# 2. Dependency order ---------------------------------------------------------------------

def test_steps_follow_depends_on_within_and_across_modules(repo: Path) -> None:
    """Even with two workers: generate -> build -> test in lib; app's build after lib's,
    app's test after lib's test."""
    run = doit_ok(repo, "-n", "2", "test")
    assert run.span("generate:lib")[1] <= run.span("build:lib")[0]
    assert run.span("build:lib")[1] <= run.span("test:lib")[0]
    assert run.span("build:lib")[1] <= run.span("build:app")[0]
    assert run.span("build:app")[1] <= run.span("test:app")[0]
    assert run.span("test:lib")[1] <= run.span("test:app")[0]


def test_a_module_step_alone_brings_its_dependencies(repo: Path) -> None:
    """`doit build:app` builds lib first: app's build reads lib's dist through {dist:lib}."""
    run = doit_ok(repo, "build:app")
    assert run.starts() == ["generate:lib", "build:lib", "build:app"]
    assert dist(repo)["app/app.txt"] == "app in development\n"


# 3. Parallelism and exclusive steps ------------------------------------------------------

def test_independent_steps_run_side_by_side(repo: Path) -> None:
    """Two steps under -n 2 run at the same time: each waits until the other has started
    (step.py --meet), so they only both succeed if neither waits for the other's end."""
    def meet(data: dict[str, Any]) -> None:
        for step in module(data, "nap")["steps"]:
            other = {"left": "right", "right": "left"}.get(step["name"])
            if other:
                step["argv"] += ["--sleep", "0", "--meet", f"{other}:nap"]

    edit_manifest(repo, meet)
    run = doit_ok(repo, "-n", "2", "left:nap", "right:nap")
    left, right = run.span("left:nap"), run.span("right:nap")
    assert left[0] < right[1] and right[0] < left[1]  # the intervals overlap


def test_an_exclusive_step_never_overlaps_another(repo: Path) -> None:
    """solo is exclusive: under -n 2 it runs alone, before or after left and right."""
    run = doit_ok(repo, "-n", "2", "solo:nap", "left:nap", "right:nap")
    solo = run.span("solo:nap")
    for other in ("left:nap", "right:nap"):
        start, end = run.span(other)
        assert end <= solo[0] or start >= solo[1], (other, run.events)
    # Whether left and right overlap each other depends on which the two workers took
    # first (a worker waiting for solo's turn holds its slot): not asserted.


# 4. Fingerprints -------------------------------------------------------------------------

def test_second_run_runs_nothing(repo: Path) -> None:
    """Nothing changed: every step is up to date (the skipped ones say so again)."""
    doit_ok(repo)
    run = doit_ok(repo)
    assert run.ran == set()
    assert {s for s in run.status.values() if not s.startswith("skipped")} == {"up to date"}


def _set_argv_text(data: dict[str, Any]) -> None:
    step(data, "app", "build")["argv"][-1] = "app.txt=app v2 in {mode}"


def _append(rel: str) -> Callable[[Path], None]:
    def change(repo: Path) -> None:
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write("changed\n")
    return change


def _manifest(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    return lambda repo: edit_manifest(repo, change)


@pytest.mark.parametrize(("change", "reruns"), [
    pytest.param(_manifest(_set_argv_text), {"build:app"}, id="argv"),
    # The module's env reaches all its steps; lib.txt holds $GREETING, so app's input
    # (lib's output) changes too.
    pytest.param(_manifest(lambda d: module(d, "lib")["env"].update(GREETING="bonjour")),
                 {"generate:lib", "build:lib", "docs:lib", "build:app"}, id="module-env"),
    # Matched by build's src/**/*.txt, not by generate's src/*.txt; lib.txt comes out
    # byte-identical, so app does not rerun.
    pytest.param(_append("modules/lib/src/deep/b.txt"), {"build:lib"}, id="deep-input"),
    pytest.param(_append("modules/lib/src/a.txt"), {"generate:lib", "build:lib"},
                 id="shallow-input"),
    pytest.param(_append("modules/tooled/src/x.txt"), {"build:tooled"}, id="toolchain-input"),
    pytest.param(lambda repo: (repo / "tools/VERSION").write_text("faketool 2.0\n"),
                 {"build:tooled"}, id="tool-version"),
])
def test_a_change_reruns_exactly_the_steps_it_touches(
        repo: Path, change: Callable[[Path], None], reruns: set[str]) -> None:
    """After a full run, one change reruns only the steps it touches."""
    doit_ok(repo)
    change(repo)
    run = doit_ok(repo)
    assert run.ran == reruns
    assert {t for t, s in run.status.items() if s == "ok"} == reruns


def test_files_outside_the_globs_or_in_skipped_folders_rerun_nothing(repo: Path) -> None:
    """Not matched by any glob, or below node_modules/ (always skipped) or target/ (the fake
    toolchain's skip_dirs), though `**/*.txt` would match them."""
    doit_ok(repo)
    for rel in ("modules/lib/notes.md", "modules/tooled/notes.md",
                "modules/tooled/target/debug/out.txt", "modules/tooled/node_modules/x/y.txt",
                "modules/tooled/src/target/deep.txt", "modules/lib/src/node_modules/z.txt",
                "modules/app/README.md"):
        _append(rel)(repo)
    run = doit_ok(repo)
    assert run.ran == set()


def test_production_reruns_and_development_stays_up_to_date(repo: Path) -> None:
    """Outputs live in dist/<mode>/: switching modes rebuilds once per mode, not each time."""
    doit_ok(repo)
    production = doit_ok(repo, "mode=production")
    assert production.ran == DEFAULT_RAN - {"docs:lib"}  # docs is skipped in production
    assert doit_ok(repo).ran == set()
    assert doit_ok(repo, "mode=production").ran == set()


# 5. Modes --------------------------------------------------------------------------------

def test_mode_reaches_commands_and_outputs_are_kept_apart(repo: Path) -> None:
    """{mode}, module env, toolchain env and per-mode list placeholders reach the command;
    each mode has its own dist/<mode>/<module>/."""
    doit_ok(repo)
    doit_ok(repo, "mode=production")
    assert dist(repo, "development") == {
        "app/app.txt": "app in development\n", "lib/info.txt": "info\n",
        "lib/lib.txt": "lib development hello\n",
        "snake/snake.txt": "built by the repository's python toolchain\n",
        "tooled/tooled.txt": "built in development\n"}
    production = dist(repo, "production")
    assert production["lib/lib.txt"] == "lib production hello\n"
    assert production["app/app.txt"] == "app in production\n"
    # FAKE_MODE: "{mode}" from the toolchain's env; {flags} spliced as two arguments.
    assert production["tooled/tooled.txt"] == "built in production --optimize --strip\n"
    assert (work(repo, "lib") / "gen.txt").read_text() == "generated for development\n"
    assert (work(repo, "lib", "production") / "gen.txt").read_text() == \
        "generated for production\n"


def test_unknown_mode_is_one_error_line(repo: Path) -> None:
    """`doit mode=bogus`: exit code 3, one line naming the valid modes, nothing run."""
    run = doit(repo, "mode=bogus")
    assert run.code == 3
    assert run.err.splitlines() == ["ERROR: command line: mode: 'bogus' is not a mode; use "
                                    "mode=development, mode=production, mode=test"]
    assert run.ran == set() and not (repo / "dist").exists()


# 6. Platforms and skip_if ----------------------------------------------------------------

def test_module_for_another_platform_is_skipped_saying_why(repo: Path) -> None:
    """platforms not naming this host: skipped with the reason; naming it: built."""
    other = other_platform()
    edit_manifest(repo, lambda d: module(d, "elsewhere").update(platforms=[other]))
    run = doit_ok(repo, "build:elsewhere")
    assert run.status["build:elsewhere"] == \
        f"skipped (elsewhere builds only on {other}; this host is {host().name})"
    assert run.ran == set() and not (repo / "dist/development/elsewhere").exists()
    edit_manifest(repo, lambda d: module(d, "elsewhere").update(platforms=[host().platform]))
    run = doit_ok(repo, "build:elsewhere")
    assert run.ran == {"build:elsewhere"}
    assert dist(repo)["elsewhere/elsewhere.txt"] == "built\n"


def test_skip_if_mode_skips_in_that_mode_only(repo: Path) -> None:
    """docs:lib has skip_if {mode: [production]}."""
    assert doit_ok(repo, "docs:lib").status["docs:lib"] == "ok"
    run = doit_ok(repo, "mode=production", "docs:lib")
    assert run.status["docs:lib"] == "skipped (skip_if: the mode is production)"
    assert run.ran == set()
    assert not (work(repo, "lib", "production") / "docs.txt").exists()
    assert (work(repo, "lib") / "docs.txt").read_text() == "docs of lib\n"


def test_skip_if_missing_runs_once_the_file_exists(repo: Path) -> None:
    """publish:lib has skip_if {missing: publish.cfg} (relative to the module)."""
    run = doit_ok(repo, "publish:lib")
    assert run.status["publish:lib"] == "skipped (skip_if: publish.cfg is missing)"
    assert "publish:lib" not in run.ran
    (repo / "modules/lib/publish.cfg").write_text("target = staging\n")
    run = doit_ok(repo, "publish:lib")
    assert run.status["publish:lib"] == "ok" and "publish:lib" in run.ran


# 7-9. Missing tool, retries, timeouts ----------------------------------------------------

def test_missing_tool_names_it_and_how_to_install_it(repo: Path) -> None:
    """run:ghost's argv[0] is not installed: one line with the tool and the install hint."""
    run = doit(repo, "run:ghost")
    assert run.code == 1
    assert run.status["run:ghost"] == "failed"
    assert ("run:ghost needs 'fedbuild-ghost-tool', which is not installed (not found on "
            "PATH); install it: pip install fedbuild-ghost-tool (it does not exist)") \
        in run.out.splitlines()
    assert "Traceback" not in run.out + run.err


def test_module_local_script_is_found_in_the_steps_folder(repo: Path) -> None:
    """argv ["./run.sh"] names a script of the module (like ./gradlew or ./configure): it is
    looked up in the step's cwd, where it runs, not in the folder doit was started from."""
    script = repo / "modules/nap/run.sh"
    script.write_text('#!/bin/sh\necho "script:nap start 0" >> "$RUNS_LOG"\n'
                      'echo "script:nap end 0" >> "$RUNS_LOG"\n')
    script.chmod(0o755)
    edit_manifest(repo, lambda d: module(d, "nap")["steps"].append(
        {"name": "script", "argv": ["./run.sh"], "default": False}))
    run = doit(repo, "script:nap")
    assert "not installed" not in run.out
    assert run.code == 0 and run.ran == {"script:nap"}


def test_retried_step_passing_on_attempt_two_is_flaky(repo: Path) -> None:
    """flaky:trouble fails its first run; retries: 2 makes it pass, reported as flaky."""
    run = doit_ok(repo, "flaky:trouble")
    assert [e for _, e, _ in run.events] == ["start", "failed", "start", "end"]
    assert run.status["flaky:trouble"] == "flaky (passed on attempt 2)"
    assert "1 tasks: 1 flaky" in run.out


def test_timeout_kills_the_whole_process_tree(repo: Path) -> None:
    """hang:trouble starts two children sleeping 600 s, one in a session of its own, and
    sleeps itself: after 1 s all three die. (A site build is this same step, its timeout the
    module's build_timeout, at least 30 s: tests/federation/test_plan.py checks it carries
    over.)"""
    run = doit(repo, "hang:trouble")
    assert run.code != 0
    assert run.status["hang:trouble"].startswith("timed out")
    assert "timed out after 1s and was killed" in run.out
    assert run.seconds < 30
    children = [int(pid) for pid in (work(repo, "trouble") / "child.pid").read_text().split()]
    assert len(children) == 2
    assert [pid for pid in children if not _gone(pid)] == []


def _gone(pid: int) -> bool:
    """No such process, or a zombie left for init to reap."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# 10. Clean and verify --------------------------------------------------------------------

def test_clean_one_step_removes_its_outputs_only(repo: Path) -> None:
    """`doit clean build:lib` removes dist/development/lib/ and nothing else; the next run
    brings back exactly it, from the action cache."""
    before = sources(repo)
    doit_ok(repo)
    doit_ok(repo, "clean", "build:lib")
    assert not (repo / "dist/development/lib").exists()
    assert set(dist(repo)) == {"app/app.txt", "snake/snake.txt", "tooled/tooled.txt"}
    assert (work(repo, "lib") / "gen.txt").is_file()  # generate:lib's output
    assert (work(repo, "lib") / "docs.txt").is_file()
    assert sources(repo) == before
    again = doit_ok(repo)
    assert again.ran == set()  # restored, not rebuilt
    assert "build:lib cached" in again.out
    assert (repo / "dist/development/lib/lib.txt").read_text().startswith("lib development")


def test_clean_removes_every_output_and_no_source(repo: Path) -> None:
    """`doit clean`: no file left under dist/development/, every source as it was."""
    before = sources(repo)
    doit_ok(repo)
    doit_ok(repo, "clean")
    assert dist(repo) == {}
    assert not (work(repo, "lib") / "gen.txt").exists()
    assert sources(repo) == before


def test_verify_checks_declared_artifacts(repo: Path) -> None:
    """verify:lib passes on good artifacts; then names a missing, an empty and an
    over-budget one."""
    run = doit_ok(repo, "verify:lib")
    assert run.status["verify:lib"] == "ok"
    assert (repo / ".fedbuild/logs/verify/lib.log").read_text() == \
        "dist/development/lib/lib.txt: 22 bytes\ndist/development/lib/info.txt: 5 bytes " \
        "(budget 100)\n"

    def change(data: dict[str, Any]) -> None:
        module(data, "lib")["outputs"] = ["absent.txt", "empty.txt",
                                          {"path": "lib.txt", "max_bytes": 10}, "info.txt"]
        step(data, "lib", "build")["argv"] += ["--write", "empty.txt="]
    edit_manifest(repo, change)
    run = doit(repo, "verify:lib")
    assert run.code == 1
    assert run.status["verify:lib"] == "failed"
    assert ("verify:lib: dist/development/lib/absent.txt: missing; "
            "dist/development/lib/empty.txt: empty; "
            "dist/development/lib/lib.txt: 22 bytes, over its budget of 10") \
        in run.out.splitlines()


def test_verify_is_a_default_task_in_production_only(repo: Path) -> None:
    """Plain `doit` does not verify; `doit mode=production` does, after the builds."""
    assert "verify:lib" not in doit_ok(repo).status
    run = doit_ok(repo, "mode=production")
    assert run.status["verify:lib"] == "ok"
    assert (repo / ".fedbuild/logs/verify/lib.log").read_text().startswith(
        "dist/production/lib/lib.txt: 21 bytes")


def test_module_for_another_platform_is_not_verified(repo: Path) -> None:
    """elsewhere's steps are skipped on this host, so it has no artifacts here to check:
    `doit mode=production` must not fail on them."""
    edit_manifest(repo, lambda d: module(d, "elsewhere").update(
        platforms=[other_platform()], outputs=["elsewhere.txt"]))
    run = doit(repo, "mode=production")
    assert run.status["build:elsewhere"].startswith("skipped")
    assert run.status.get("verify:elsewhere", "skipped").startswith("skipped"), run.out
    assert run.code == 0


# 11. Atomic outputs ----------------------------------------------------------------------

def test_failed_step_leaves_the_previous_outputs_untouched(repo: Path) -> None:
    """build:lib writes into {out}, then fails: dist/development/lib/ stays as it was."""
    doit_ok(repo, "build:lib")
    before = dist(repo)
    inode = (repo / "dist/development/lib").stat().st_ino

    def break_build(data: dict[str, Any]) -> None:
        step(data, "lib", "build")["argv"] += ["--write", "lib.txt=half-written", "--fail"]
    edit_manifest(repo, break_build)
    run = doit(repo, "build:lib")
    assert run.code == 1 and run.status["build:lib"] == "failed"
    assert "failed with exit code 1" in run.out
    assert dist(repo) == before
    assert (repo / "dist/development/lib").stat().st_ino == inode
    assert not any((repo / ".fedbuild/tmp").iterdir())  # the half-written {out} is gone


# 12. Repository toolchains -----------------------------------------------------------------

def test_repository_toolchains_add_and_replace(repo: Path) -> None:
    """toolchains/fake.yaml adds a toolchain; toolchains/python.yaml replaces fedbuild's
    (whose pip wheel build and pytest test step are gone)."""
    out = doit_ok(repo, "list").out
    described = dict(line.split(None, 1) for line in out.splitlines())
    assert described["build:snake"] == \
        "the repository's own python build [python, development, in modules/snake]"
    assert "test:snake" not in described
    assert "pip wheel" not in out
    run = doit_ok(repo, "build:snake", "build:tooled")
    assert run.ran == {"build:snake", "build:tooled"}
    assert dist(repo)["snake/snake.txt"] == "built by the repository's python toolchain\n"
    assert dist(repo)["tooled/tooled.txt"] == "built in development\n"
    # The fake tool was asked its version (once per run, logged like any command).
    tool_logs = [p.read_text() for p in (repo / ".fedbuild/logs/tools").glob("*.log")]
    assert any("faketool 1.0" in text for text in tool_logs)


def test_no_traceback_in_any_step_log(repo: Path) -> None:
    """A default run's step logs hold each command line and its output, no Python errors."""
    doit_ok(repo)
    logs = list((repo / ".fedbuild/logs").rglob("*.log"))
    assert logs
    for log in logs:
        assert "Traceback" not in log.read_text(), log
    first = (repo / ".fedbuild/logs/build/lib.log").read_text().splitlines()[0]
    assert first.startswith("$ ") and "step.py build:lib" in first
    assert f"cwd {repo / 'modules/lib'}" in first


def test_python_or_python3_starting_doit_keeps_steps_up_to_date(tmp_path: Path) -> None:
    """`doit` (a python3 script) and `python -m doit` are one interpreter: a step running
    {python} stays up to date whichever of its names started the run."""
    repo = tmp_path / "repo"
    (repo / "m").mkdir(parents=True)
    (repo / "m" / "hello.py").write_text("print('hello')\n")
    (repo / "modules.json").write_text(json.dumps({
        "federation": {"name": "python names", "baseURL": "https://x.example.org"},
        "modules": [{"name": "m", "source": {"repository": "local", "path": "m"},
                     "toolchain": "command", "inputs": ["*.py"],
                     "steps": [{"name": "build", "argv": ["{python}", "hello.py"],
                                "cache": False}]}]}))
    names = [Path(sys.executable).parent / n for n in ("python", "python3")]
    names = [n for n in names if n.exists()]
    if len({os.path.realpath(n) for n in names}) != 1 or len(names) < 2:
        names = [Path(sys.executable)] * 2  # one name only here: the same run twice
    runs = []
    for name in names:
        argv = doit_argv(repo)
        argv[0] = str(name)
        runs.append(subprocess.run(argv, cwd=repo, capture_output=True, text=True,
                                   env={**os.environ, "NO_COLOR": "1"}, timeout=120))
    assert runs[0].returncode == 0, runs[0].stdout + runs[0].stderr
    assert re.search(r"^build:m\s+built", runs[0].stdout, re.M), runs[0].stdout
    assert re.search(r"^build:m\s+up to date", runs[1].stdout, re.M), runs[1].stdout
