"""The action cache end to end: real doit runs in separate clones sharing a local cache folder
or a real server (nginx's WebDAV, redis-server) on loopback, and what goes wrong with them."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from core.digests import content_digest
from tasks.history import History
from tests.conftest import (
    copy_example,
    copy_fixture,
    doit_argv,
    eventually,
    run_doit,
    set_module,
)
from tests.servers import nginx_cache, redis_cache, silent_server

STEPS_TASKS = {"generate:lib", "build:lib", "docs:lib", "build:app", "build:tooled",
               "build:snake"}


def build(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    runs = repo / "runs.log"
    runs.unlink(missing_ok=True)
    result = run_doit(repo, *args, env={"RUNS_LOG": str(runs), **env})
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def ran(repo: Path) -> set[str]:
    """The steps whose commands ran in the last build (tools/step.py logs each start)."""
    runs = repo / "runs.log"
    if not runs.exists():
        return set()
    return {line.split()[0] for line in runs.read_text().splitlines() if " start " in line}


_PROGRESS = re.compile(r"^\[\d+/\d+\] (\S+) (not needed|up to date|\S+)")


def statuses(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Each task's status word from the progress lines (`[3/8] build:lib cached 0.0s ...`)."""
    found = {}
    for line in result.stdout.splitlines():
        match = _PROGRESS.match(line)
        if match and match[2] != "started":
            found[match[1]] = match[2]
    return found


def warnings(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in result.stdout.splitlines() if ln.startswith("fedbuild: cache")]


def test_a_second_clone_restores_everything_from_a_shared_local_cache(tmp_path: Path) -> None:
    shared = str(tmp_path / "shared-cache")
    first = copy_fixture("steps", tmp_path / "first")
    build(first, FEDBUILD_CACHE_DIR=shared)
    assert ran(first) >= {"generate:lib", "build:lib", "build:app"}

    second = copy_fixture("steps", tmp_path / "elsewhere" / "second")
    result = build(second, FEDBUILD_CACHE_DIR=shared)
    assert ran(second) == set()  # nothing built: every step restored
    assert {n: s for n, s in statuses(result).items() if n in STEPS_TASKS} == \
        dict.fromkeys(STEPS_TASKS, "cached")
    assert "cache: 6 restored instead of built, saved" in result.stdout
    # Byte-identical outputs, and each task's log replayed.
    for module in ("lib", "app", "snake", "tooled"):
        assert content_digest(second / "dist/development" / module) == \
            content_digest(first / "dist/development" / module)
    assert (second / ".fedbuild/work/development/lib/gen.txt").read_bytes() == \
        (first / ".fedbuild/work/development/lib/gen.txt").read_bytes()
    for log in ("build/lib.log", "build/app.log", "generate/lib.log"):
        assert (second / ".fedbuild/logs" / log).read_bytes() == \
            (first / ".fedbuild/logs" / log).read_bytes()
    # The history says how: cached, with the time the first clone's build took.
    history = History(second / ".fedbuild/history.sqlite3")
    rows = {t.name: t for t in history.tasks(history.runs(1)[0].id)}
    assert rows["build:lib"].status == "cached"
    first_history = History(first / ".fedbuild/history.sqlite3")
    built = {t.name: t for t in first_history.tasks(first_history.runs(1)[0].id)}
    assert rows["build:lib"].saved == built["build:lib"].duration
    # And doit now holds it up to date, as if it had been built here.
    again = build(second, FEDBUILD_CACHE_DIR=shared)
    assert set(statuses(again).values()) <= {"up to date", "skipped"}


def test_site_modules_are_restored_and_published_the_same(tmp_path: Path) -> None:
    shared = str(tmp_path / "shared-cache")
    first = copy_fixture("basic", tmp_path / "first")
    build(first, FEDBUILD_CACHE_DIR=shared)
    second = copy_fixture("basic", tmp_path / "second")
    result = build(second, FEDBUILD_CACHE_DIR=shared)
    assert ran(second) == set()  # build.sh never ran
    found = statuses(result)
    assert [found[f"build:{m}"] for m in ("alpha", "beta", "gamma")] == ["cached"] * 3
    assert found["federate"] == "ok"
    for page in ("index.html", "beta/index.html", "gamma/index.html"):
        assert (second / "public" / page).read_bytes() == (first / "public" / page).read_bytes()


def test_a_changed_input_or_dependency_misses(tmp_path: Path) -> None:
    shared = str(tmp_path / "shared-cache")
    first = copy_fixture("steps", tmp_path / "first")
    build(first, FEDBUILD_CACHE_DIR=shared)
    second = copy_fixture("steps", tmp_path / "second")
    (second / "modules/lib/src/a.txt").write_text("changed\n")
    build(second, FEDBUILD_CACHE_DIR=shared)
    # lib's steps read src/: rebuilt. app reads lib's output, which came out the same, so
    # it is restored; steps that read neither are restored too.
    assert {"generate:lib", "build:lib"} <= ran(second)
    assert "build:snake" not in ran(second)


def test_failed_runs_are_never_stored_and_opted_out_steps_always_run(tmp_path: Path) -> None:
    shared = str(tmp_path / "shared-cache")
    first = copy_fixture("reporting", tmp_path / "first")
    set_module(first, "quick", steps=[
        {"name": "build", "description": "say two lines", "cache": False,
         "argv": ["{python}", "{root}/tools/talk.py", "quick", "--lines", "2"]},
        {"name": "test", "description": "a passing test", "depends_on": ["build"],
         "argv": ["{python}", "{root}/tools/talk.py", "quick-test", "--lines", "3"]}])
    failing = run_doit(first, env={"FEDBUILD_CACHE_DIR": shared, "BREAK": "1"})
    assert failing.returncode != 0 and statuses(failing)["build:broken"] == "failed"
    second = copy_fixture("reporting", tmp_path / "second")
    (second / "modules.json").write_text((first / "modules.json").read_text())
    result = build(second, FEDBUILD_CACHE_DIR=shared)
    found = statuses(result)
    assert found["build:broken"] == "ok"  # its failure was not kept
    assert found["build:quick"] == "ok"  # cache: false
    assert found["build:chatty"] == found["build:slow"] == "cached"


def test_two_clones_share_an_nginx_cache(tmp_path: Path) -> None:
    with nginx_cache(tmp_path) as server:
        first = copy_fixture("steps", tmp_path / "first")
        build(first, FEDBUILD_CACHE_URL=server.url)
        assert server.requests() and any(r.startswith("PUT /ac/") for r in server.requests())
        second = copy_fixture("steps", tmp_path / "second")  # its own, empty, local cache
        result = build(second, FEDBUILD_CACHE_URL=server.url)
        assert ran(second) == set()
        assert "cache: 6 restored instead of built" in result.stdout
        assert warnings(result) == []
        assert content_digest(second / "dist/development/lib") == \
            content_digest(first / "dist/development/lib")


def test_two_clones_share_a_redis_cache(tmp_path: Path) -> None:
    with redis_cache(tmp_path) as server:
        first = copy_fixture("steps", tmp_path / "first")
        build(first, FEDBUILD_CACHE_URL=server.url)
        second = copy_fixture("steps", tmp_path / "second")
        result = build(second, FEDBUILD_CACHE_URL=server.url)
        assert ran(second) == set()
        assert "cache: 6 restored instead of built" in result.stdout
        assert warnings(result) == []


def test_a_server_stopped_mid_build_leaves_a_correct_build_and_one_warning(
        tmp_path: Path) -> None:
    with nginx_cache(tmp_path) as server:
        first = copy_fixture("reporting", tmp_path / "first")
        build(first, FEDBUILD_CACHE_URL=server.url)
        second = copy_fixture("reporting", tmp_path / "second")
        # quick's build differs here (one more line), so it builds, slowly; meanwhile the
        # server goes away, before the other tasks look it up.
        set_module(second, "quick", steps=[
            {"name": "build", "description": "say three lines",
             "argv": ["{python}", "{root}/tools/talk.py", "quick", "--lines", "3", "--sleep",
                      "1.5"]},
            {"name": "test", "description": "a passing test", "depends_on": ["build"],
             "argv": ["{python}", "{root}/tools/talk.py", "quick-test", "--lines", "3"]}])
        proc = subprocess.Popen(doit_argv(second), cwd=second, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, "NO_COLOR": "1",
                                     "FEDBUILD_CACHE_URL": server.url})
        log = second / ".fedbuild/logs/build/quick.log"
        assert eventually(lambda: log.exists() and "quick line 1" in log.read_text(), 20)
        server.stop()
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    lines = [ln for ln in out.splitlines() if ln.startswith("fedbuild: cache")]
    assert len(lines) == 1 and "unavailable, building instead" in lines[0], out
    found = statuses(subprocess.CompletedProcess([], 0, out, err))
    assert found["build:quick"] == "ok"
    assert all(found[t] == "ok" for t in ("build:slow", "build:chatty", "build:broken")), found


def server_record(root: Path, task: str) -> tuple[Path, dict[str, Any]]:
    """The action record the server holds for `task` (its file and its JSON)."""
    for path in (root / "ac").iterdir():
        record = json.loads(path.read_bytes())
        if record["task"] == task:
            return path, record
    raise AssertionError(f"no record for {task} on the server")


def test_an_output_corrupted_on_the_server_is_rebuilt_with_a_warning(tmp_path: Path) -> None:
    """lib.txt is small, so it travels inside build:lib's record: content that does not
    match its digest there is caught like a corrupt blob."""
    with nginx_cache(tmp_path) as server:
        first = copy_fixture("steps", tmp_path / "first")
        build(first, FEDBUILD_CACHE_URL=server.url)
        lib = (first / "dist/development/lib/lib.txt").read_bytes()
        path, record = server_record(server.root, "build:lib")
        entry = next(e for e in record["outputs"] if e["path"].endswith("lib/lib.txt"))
        assert base64.b64decode(entry["data"]) == lib
        entry["data"] = base64.b64encode(b"not what was stored\n").decode()
        path.write_text(json.dumps(record))
        second = copy_fixture("steps", tmp_path / "second")
        result = build(second, FEDBUILD_CACHE_URL=server.url)
    # Only the task whose blob is bad rebuilds; the server stays in use for the others.
    assert ran(second) == {"build:lib"}
    assert (second / "dist/development/lib/lib.txt").read_bytes() == lib
    assert "cache: 5 restored instead of built" in result.stdout
    lines = warnings(result)
    assert len(lines) == 1 and "corrupt" in lines[0], result.stdout


def test_a_lazy_install_runs_only_for_a_build_that_misses(tmp_path: Path) -> None:
    """npm's install is lazy: a clone whose build:web is in the cache never runs npm ci, and
    when that restore fails after all (app.js corrupted in the server's record), build:web
    runs the install first itself."""
    with nginx_cache(tmp_path) as server:
        first = copy_example(tmp_path / "first")
        result = build(first, "build:web", FEDBUILD_CACHE_URL=server.url)
        assert statuses(result) == {"install:web": "ok", "build:web": "ok"}

        second = copy_example(tmp_path / "second")
        result = build(second, "build:web", FEDBUILD_CACHE_URL=server.url)
        assert statuses(result) == {"install:web": "not needed", "build:web": "cached"}
        assert not (second / ".fedbuild/logs/install/web.log").exists()  # npm never ran
        app = (first / "dist/development/web/app.js").read_bytes()
        assert (second / "dist/development/web/app.js").read_bytes() == app

        path, record = server_record(server.root, "build:web")  # app.js is inline there
        entry = next(e for e in record["outputs"] if e["path"].endswith("/app.js"))
        entry["data"] = base64.b64encode(b"corrupt\n").decode()
        path.write_text(json.dumps(record))
        third = copy_example(tmp_path / "third")
        result = build(third, "build:web", FEDBUILD_CACHE_URL=server.url)
    assert statuses(result) == {"install:web": "not needed", "build:web": "ok"}
    assert "build:web: ran install:web first" in result.stdout
    assert "npm ci" in (third / ".fedbuild/logs/install/web.log").read_text()
    assert (third / "dist/development/web/app.js").read_bytes() == app
    # The install that ran counts from now on: a rerun has nothing to do.
    result = build(third, "build:web", FEDBUILD_CACHE_URL=server.url)
    assert statuses(result) == {"install:web": "up to date", "build:web": "up to date"}


def test_a_slow_server_past_its_timeout_is_a_miss_and_one_warning(tmp_path: Path) -> None:
    repo = copy_fixture("steps", tmp_path / "repo")
    with silent_server() as server:
        manifest = json.loads((repo / "modules.json").read_text())
        manifest["federation"]["cache"] = {"remote": {"url": server.url(), "timeout": 1,
                                                      "connect_timeout": 1}}
        (repo / "modules.json").write_text(json.dumps(manifest))
        started = time.monotonic()
        result = build(repo)
        elapsed = time.monotonic() - started
    assert {"generate:lib", "build:lib", "build:app"} <= ran(repo)
    lines = warnings(result)
    assert len(lines) == 1 and "unavailable" in lines[0], result.stdout
    assert elapsed < 30  # one timeout, not one per task


def test_a_read_only_token_cannot_write_and_the_build_goes_on(tmp_path: Path) -> None:
    with nginx_cache(tmp_path, write_token="ci-secret") as server:
        trusted = copy_fixture("steps", tmp_path / "trusted")
        build(trusted, FEDBUILD_CACHE_URL=server.url, FEDBUILD_CACHE_TOKEN="ci-secret")
        untrusted = copy_fixture("steps", tmp_path / "untrusted")
        (untrusted / "modules/lib/src/a.txt").write_text("a pull request\n")
        result = build(untrusted, FEDBUILD_CACHE_URL=server.url,
                       FEDBUILD_CACHE_TOKEN="read-only")
        lines = warnings(result)
        assert len(lines) == 1 and "refused" in lines[0], result.stdout
        assert "build:lib" in ran(untrusted)
        # With read-only mode it does not even try, and still reads what CI stored.
        reader = copy_fixture("steps", tmp_path / "reader")
        puts = len([r for r in server.requests() if r.startswith("PUT ")])
        result = build(reader, FEDBUILD_CACHE_URL=server.url, FEDBUILD_CACHE_READ_ONLY="1")
        assert ran(reader) == set() and warnings(result) == []
        assert len([r for r in server.requests() if r.startswith("PUT ")]) == puts


def test_shards_then_a_plain_build_restore_every_expensive_task(tmp_path: Path) -> None:
    with nginx_cache(tmp_path) as server:
        env = {"FEDBUILD_CACHE_URL": server.url}
        shards = [copy_fixture("steps", tmp_path / f"shard{k}") for k in (1, 2)]
        procs = [subprocess.Popen(doit_argv(repo, f"shard={k}/2"), cwd=repo, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env={**os.environ, "NO_COLOR": "1", **env,
                                       "RUNS_LOG": str(repo / "runs.log")})
                 for k, repo in zip((1, 2), shards, strict=True)]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, out + err
        both = ran(shards[0]) | ran(shards[1])
        assert both >= {"build:lib", "build:app", "build:snake", "build:tooled"}
        assert ran(shards[0]) != ran(shards[1])  # the work was split
        final = copy_fixture("steps", tmp_path / "final")
        result = build(final, **env)
        assert ran(final) == set()
        assert {n: s for n, s in statuses(result).items() if n in STEPS_TASKS} == \
            dict.fromkeys(STEPS_TASKS, "cached")


def test_a_bad_shard_is_a_one_line_error(tmp_path: Path) -> None:
    repo = copy_fixture("steps", tmp_path / "repo")
    result = run_doit(repo, "shard=3/2")
    assert result.returncode == 3
    assert result.stderr.strip() == ("ERROR: command line: shard: '3/2' is not a shard: use "
                                     "shard=K/N with 1 <= K <= N, e.g. shard=1/4")


COPY = ("import os, shutil, sys; os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True); "
        "shutil.copyfile(sys.argv[1], sys.argv[2])")


def two_step_repo(root: Path, text: str) -> Path:
    """A module whose `use` step reads what its `gen` step wrote outside dist/ (a work file)
    and has none of gen's inputs among its own."""
    module = root / "modules/m"
    module.mkdir(parents=True)
    (module / "a.txt").write_text(text)
    (module / "b.txt").write_text("b\n")
    manifest = {
        "federation": {"name": "two steps", "baseURL": "https://two.example.org"},
        "modules": [{
            "name": "m", "source": {"repository": "local", "path": "modules/m"},
            "toolchain": "command",
            "steps": [
                {"name": "gen", "inputs": ["a.txt"], "outputs": ["{work}/gen.txt"],
                 "argv": ["{python}", "-c", COPY, "a.txt", "{work}/gen.txt"]},
                {"name": "use", "depends_on": ["gen"], "inputs": ["b.txt"],
                 "argv": ["{python}", "-c", COPY, "{work}/gen.txt", "{out}/use.txt"]}]}]}
    (root / "modules.json").write_text(json.dumps(manifest))
    return root


def test_a_dependency_output_outside_dist_is_part_of_the_key(tmp_path: Path) -> None:
    """What a dependency wrote to its declared outputs (here a work file, not dist/) is in
    its dependents' keys: a clone whose `gen` makes something else never restores a `use`
    built from the other content."""
    shared = str(tmp_path / "shared-cache")
    first = two_step_repo(tmp_path / "first", "one\n")
    build(first, FEDBUILD_CACHE_DIR=shared)
    assert (first / "dist/development/m/use.txt").read_text() == "one\n"

    second = two_step_repo(tmp_path / "second", "two\n")
    result = build(second, FEDBUILD_CACHE_DIR=shared)
    assert statuses(result) == {"gen:m": "ok", "use:m": "ok"}
    assert (second / "dist/development/m/use.txt").read_text() == "two\n"

    third = two_step_repo(tmp_path / "third", "one\n")  # the same as the first: all restored
    result = build(third, FEDBUILD_CACHE_DIR=shared)
    assert statuses(result) == {"gen:m": "cached", "use:m": "cached"}
    assert (third / "dist/development/m/use.txt").read_text() == "one\n"


def test_a_blob_corrupted_on_the_server_is_rebuilt_with_a_warning(tmp_path: Path) -> None:
    """gen.txt and use.txt (the same 64 KiB) are too big to travel inside their records: their
    blob, corrupted on the server, is caught by its digest. gen is built again, which puts
    the right blob in the local store (use is then restored from it) and back on the
    server; one warning."""
    big = "0123456789abcdef" * 4096  # 64 KiB
    with nginx_cache(tmp_path) as server:
        first = two_step_repo(tmp_path / "first", big)
        build(first, FEDBUILD_CACHE_URL=server.url)
        blob = server.root / "cas" / hashlib.sha256(big.encode()).hexdigest()
        assert blob.is_file()
        blob.write_bytes(b"not what was stored\n")
        second = two_step_repo(tmp_path / "second", big)
        result = build(second, FEDBUILD_CACHE_URL=server.url)
        assert blob.read_text() == big  # the server's copy is whole again
    assert (second / "dist/development/m/use.txt").read_text() == big
    assert statuses(result) == {"gen:m": "ok", "use:m": "cached"}
    lines = warnings(result)
    assert len(lines) == 1 and "corrupt" in lines[0], result.stdout


def test_process_workers_build_and_restore_too(tmp_path: Path) -> None:
    """`doit -n 2 -P process`: forked workers store and restore like threads do (tool probes
    run one at a time there, never beside a fork)."""
    shared = str(tmp_path / "shared-cache")
    first = copy_fixture("steps", tmp_path / "first")
    build(first, "-n", "2", "-P", "process", FEDBUILD_CACHE_DIR=shared)
    second = copy_fixture("steps", tmp_path / "second")
    result = build(second, "-n", "2", "-P", "process", FEDBUILD_CACHE_DIR=shared)
    assert ran(second) == set()
    assert {n: s for n, s in statuses(result).items() if n in STEPS_TASKS} == \
        dict.fromkeys(STEPS_TASKS, "cached")


def test_a_full_local_cache_disk_is_one_warning_line(tmp_path: Path) -> None:
    """The local cache on a full disk (a 12 KiB tmpfs, filled, in a mount namespace of the
    run's own): the build succeeds, and one line says the cache is full (not one for the
    counters and one for the store)."""
    repo = copy_fixture("steps", tmp_path / "repo")
    disk = tmp_path / "disk"
    disk.mkdir()
    script = ('mount -t tmpfs -o size=12k tmpfs "$1" && head -c 12288 /dev/zero > "$1/filler"; '
              'shift; exec "$@"')
    argv = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh",
            str(disk), *doit_argv(repo, "build:lib", "build:app")]
    result = subprocess.run(argv, cwd=repo, text=True, capture_output=True, timeout=120,
                            env={**os.environ, "NO_COLOR": "1",
                                 "FEDBUILD_CACHE_DIR": str(disk / "cache")}, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = warnings(result)
    assert len(lines) == 1 and "is full" in lines[0], result.stdout
    assert (repo / "dist/development/app/app.txt").is_file()
