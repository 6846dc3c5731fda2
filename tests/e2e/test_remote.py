"""Steps on a Dask cluster (`doit executor=dask scheduler=...`), end to end on loopback: a real
`dask scheduler`, two `dask worker` processes (each its own --local-directory, started in a
folder of its own, in a mount namespace where the test's repositories do not exist: checked
below) and nginx as the cache they move inputs and outputs through."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from core.digests import content_digest
from core.outcome import Outcome
from core.state import State
from tests.conftest import copy_example, copy_fixture, doit_argv, run_command, run_doit
from tests.dask_cluster import START_TIMEOUT, dask_cluster, seen_by_workers, self_signed
from tests.servers import free_port, nginx_cache, stop_process

pytestmark = pytest.mark.heavy(55)  # run early under -n (tests/conftest.py)

STEPS = ("build:lib", "build:app", "build:docs")
def _build(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    result = run_doit(repo, *args, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _outcomes(repo: Path) -> dict[str, Outcome]:
    """Each step's recorded outcome."""
    state = State(repo)
    found = {task: Outcome.read(state.outcome(task)) for task in STEPS}
    assert None not in found.values(), found
    return {task: outcome for task, outcome in found.items() if outcome is not None}


def _where(repo: Path) -> dict[str, str]:
    """The worker each step ran on ("" for here)."""
    return {task: outcome.worker for task, outcome in _outcomes(repo).items()}


def _statuses(repo: Path) -> set[str]:
    return {outcome.status.value for outcome in _outcomes(repo).values()}


def test_steps_run_on_dask_workers_byte_identical_and_a_rerun_is_all_cache_hits(
        tmp_path: Path) -> None:
    local = copy_fixture("remote", tmp_path / "local")
    _build(local, FEDBUILD_CACHE="off")
    assert set(_where(local).values()) == {""}  # a local build runs here

    with nginx_cache(tmp_path) as cache, dask_cluster(tmp_path) as cluster:
        address, workers = cluster.address, cluster.workers
        remote = copy_fixture("remote", tmp_path / "remote")
        # The workers started in folders of their own and cannot see the repository at all
        # (nor the local build's): what they get comes through the cache.
        assert seen_by_workers(cluster, tmp_path / "cluster") == dict.fromkeys(workers, True)
        for path in (remote / "modules.json", local / "modules.json", tmp_path / "w1.log"):
            assert path.exists() and seen_by_workers(cluster, path) == \
                dict.fromkeys(workers, False), path
        given = ("-n", "2", "executor=dask", f"scheduler={address}")
        result = _build(remote, *given, FEDBUILD_CACHE_URL=cache.url,
                        FEDBUILD_CACHE_DIR=str(tmp_path / "remote-cache"))
        assert _statuses(remote) == {"built"}, result.stdout
        where = _where(remote)
        assert set(where.values()) <= set(workers) and all(where.values()), where
        print("ran on", where)  # which worker ran which step (-s shows it)
        for task, worker in where.items():  # the progress line: where, its wait, its work
            assert re.search(rf"^\[\d/3\] {task} ok \S+ \(on {worker}, queued \d+\.\ds, "
                             r"ran \d+\.\ds there\)$", result.stdout, re.M), result.stdout
        assert re.search(rf"^dask: 3 tasks ran on {len(set(where.values()))} workers? \(.*\): "
                         r"\d+\.\ds of work there, queued \d+\.\ds in all \(longest "
                         r"\d+\.\ds\)$", result.stdout, re.M), result.stdout
        _seen_like_local_work(remote, where)
        assert content_digest(remote / "dist") == content_digest(local / "dist")

        again = copy_fixture("remote", tmp_path / "again")
        result = _build(again, *given, FEDBUILD_CACHE_URL=cache.url,
                        FEDBUILD_CACHE_DIR=str(tmp_path / "again-cache"))
        assert _statuses(again) == {"cached"}, result.stdout
        assert set(_where(again).values()) == {""}  # restored here, nothing submitted
        assert content_digest(again / "dist") == content_digest(local / "dist")


def _seen_like_local_work(repo: Path, where: dict[str, str]) -> None:
    """summary.json, the history and the trace say where each task ran, its time queued
    and its work there."""
    folder = next((repo / ".fedbuild" / "runs").glob("*/summary.json")).parent
    summary = json.loads((folder / "summary.json").read_text())
    tasks = {t["name"]: t for t in summary["tasks"]}
    assert {name: t["worker"] for name, t in tasks.items()} == where
    for name in where:
        assert tasks[name]["queued"] >= 0 and tasks[name]["remote_run"] > 0, tasks[name]
        assert tasks[name]["remote_run"] <= tasks[name]["duration"], tasks[name]
    history = run_command(repo, "history", "--run", "1")
    assert history.returncode == 0, history.stdout + history.stderr
    header = next(line for line in history.stdout.splitlines() if line.startswith("task "))
    assert header.split()[-4:] == ["worker", "queued", "remote", "run"], header
    for name, worker in where.items():
        row = next(line for line in history.stdout.splitlines() if line.startswith(name))
        assert worker in row, row
    events = json.loads((folder / "trace.json").read_text())["traceEvents"]
    lanes = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    for event in (e for e in events if e["ph"] == "X"):  # a lane per worker
        assert lanes[event["tid"]] == where[event["name"]], (event, lanes)


def test_the_example_builds_remotely_like_a_local_build(tmp_path: Path) -> None:
    """Site builds, C, Rust, npm, Python and firmware steps: all through the cache; a test
    loading a library its module's dependency built gets it (dependencies' outputs, however
    far, are inputs of a remote run)."""
    local = copy_example(tmp_path / "local")
    _build(local, FEDBUILD_CACHE="off")
    # Some outputs keep the folder or the time they were built in (a shared library's debug
    # info, a firmware map, a wheel): two local builds in two folders tell which.
    (tmp_path / "elsewhere").mkdir()
    other = copy_example(tmp_path / "elsewhere" / "local")
    _build(other, FEDBUILD_CACHE="off")
    modules = sorted(p.name for p in (local / "dist/development").iterdir())
    stable = [m for m in modules if content_digest(local / "dist/development" / m) ==
              content_digest(other / "dist/development" / m)]
    assert "web" in stable, stable
    with nginx_cache(tmp_path) as cache, dask_cluster(tmp_path) as cluster:
        remote = copy_example(tmp_path / "remote")
        result = _build(remote, "executor=dask", f"scheduler={cluster.address}",
                        FEDBUILD_CACHE_URL=cache.url,
                        FEDBUILD_CACHE_DIR=str(tmp_path / "remote-cache"))
    assert re.search(r"^dask: \d+ tasks ran on 2 workers", result.stdout, re.M), result.stdout
    for module in stable:  # byte-identical where two local builds are
        assert content_digest(remote / "dist/development" / module) == \
            content_digest(local / "dist/development" / module), module
    for folder in ("dist", "public"):  # the same files everywhere
        assert _files(remote / folder) == _files(local / folder), folder


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _running(address: str, task: str) -> str | None:
    """The address of the worker running `task` now, if one is."""
    from distributed import Client

    with Client(address, timeout=START_TIMEOUT, set_as_default=False) as client:
        busy = client.processing()
    return next((w for w, keys in busy.items() if any(str(k).startswith(task) for k in keys)),
                None)


def test_a_worker_killed_mid_task_has_it_rescheduled_and_the_build_succeeds(
        tmp_path: Path) -> None:
    with nginx_cache(tmp_path) as cache, dask_cluster(tmp_path) as cluster:
        repo = copy_fixture("remote", tmp_path / "repo")
        env = {**os.environ, "NO_COLOR": "1", "FEDBUILD_CACHE_URL": cache.url}
        argv = doit_argv(repo, "build:slow", "executor=dask", f"scheduler={cluster.address}")
        build = subprocess.Popen(argv, cwd=repo, env=env, text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            victim = None
            while victim is None and time.monotonic() < deadline and build.poll() is None:
                victim = _running(cluster.address, "build:slow")
                time.sleep(0.1)
            assert victim is not None, "build:slow never ran on a worker"
            names = {_name_of(cluster.address, w): w for w in cluster.workers}
            name = next(n for n, w in names.items() if w == victim)
            os.killpg(cluster.processes[name].pid, signal.SIGKILL)  # the nanny and its worker
            output, _ = build.communicate(timeout=300)
        finally:
            if build.poll() is None:
                stop_process(build)  # type: ignore[arg-type]
        assert build.returncode == 0, output
        where = Outcome.read(State(repo).outcome("build:slow"))
        assert where is not None and where.worker and where.worker != victim, (where, victim)
        assert (repo / "dist/development/slow/slow.txt").read_text() == "slept 4.0\n"


def test_the_scheduler_lost_mid_build_fails_the_task_cleanly_in_one_line(
        tmp_path: Path) -> None:
    with nginx_cache(tmp_path) as cache, dask_cluster(tmp_path) as cluster:
        repo = copy_fixture("remote", tmp_path / "repo")
        env = {**os.environ, "NO_COLOR": "1", "FEDBUILD_CACHE_URL": cache.url}
        argv = doit_argv(repo, "build:slow", "executor=dask", f"scheduler={cluster.address}")
        build = subprocess.Popen(argv, cwd=repo, env=env, text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while _running(cluster.address, "build:slow") is None:
                assert time.monotonic() < deadline and build.poll() is None, "never ran"
                time.sleep(0.1)
            os.killpg(cluster.processes["scheduler"].pid, signal.SIGKILL)
            output, _ = build.communicate(timeout=120)  # never hangs
        finally:
            if build.poll() is None:
                stop_process(build)  # type: ignore[arg-type]
        assert build.returncode == 1, output
        said = [line for line in output.splitlines() if "Dask execution at" in line]
        assert said and "build:slow" in said[0], output
        assert "Traceback" not in output


def _processing(address: str) -> int:
    """How many tasks the cluster's workers are running now."""
    from distributed import Client

    with Client(address, timeout=START_TIMEOUT, set_as_default=False) as client:
        return sum(len(keys) for keys in client.processing().values())


def test_remote_tasks_hold_no_local_slot_remote_jobs_bounds_them(tmp_path: Path) -> None:
    """With -n 1 two remote tasks are in flight at once (remote_jobs=2): the one local slot
    is not held while a task waits on the cluster."""
    with nginx_cache(tmp_path) as cache, dask_cluster(tmp_path) as cluster:
        repo = copy_fixture("remote", tmp_path / "repo")
        env = {**os.environ, "NO_COLOR": "1", "FEDBUILD_CACHE_URL": cache.url}
        argv = doit_argv(repo, "-n", "1", "build:slow", "build:slow2", "executor=dask",
                         f"scheduler={cluster.address}", "remote_jobs=2")
        build = subprocess.Popen(argv, cwd=repo, env=env, text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
        try:
            most = 0
            while build.poll() is None and most < 2:
                most = max(most, _processing(cluster.address))
                time.sleep(0.1)
            output, _ = build.communicate(timeout=300)
        finally:
            if build.poll() is None:
                stop_process(build)  # type: ignore[arg-type]
        assert build.returncode == 0, output
        assert most == 2, output  # both on the cluster at once, with one local slot
        # doit ran 1 local + 2 remote threads: the summary counts them all
        assert re.search(r"^parallelism: \d+\.\d of 3 workers on average", output, re.M), output
        where = {t: getattr(Outcome.read(State(repo).outcome(t)), "worker", "")
                 for t in ("build:slow", "build:slow2")}
        assert len(set(where.values())) == 2, where


def test_the_scheduler_lost_mid_build_with_local_fallback_builds_here(tmp_path: Path) -> None:
    """executor=dask,local-fallback: the task in flight when the scheduler dies runs here,
    one warning saying why, and the build succeeds."""
    with nginx_cache(tmp_path) as cache, dask_cluster(tmp_path) as cluster:
        repo = copy_fixture("remote", tmp_path / "repo")
        env = {**os.environ, "NO_COLOR": "1", "FEDBUILD_CACHE_URL": cache.url}
        argv = doit_argv(repo, "build:slow", "executor=dask,local-fallback",
                         f"scheduler={cluster.address}")
        build = subprocess.Popen(argv, cwd=repo, env=env, text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while _running(cluster.address, "build:slow") is None:
                assert time.monotonic() < deadline and build.poll() is None, "never ran"
                time.sleep(0.1)
            os.killpg(cluster.processes["scheduler"].pid, signal.SIGKILL)
            output, _ = build.communicate(timeout=120)
        finally:
            if build.poll() is None:
                stop_process(build)  # type: ignore[arg-type]
    assert build.returncode == 0, output
    slow = Outcome.read(State(repo).outcome("build:slow"))
    assert slow is not None and slow.status.value == "built" and slow.worker == "", slow
    assert any("executor=dask,local-fallback: it and the rest run here" in w
               for w in slow.warnings), slow
    assert (repo / "dist/development/slow/slow.txt").read_text() == "slept 4.0\n"
    assert "Traceback" not in output


def _name_of(address: str, worker: str) -> str:
    """A worker's --name, as the scheduler knows it."""
    from distributed import Client

    with Client(address, timeout=START_TIMEOUT, set_as_default=False) as client:
        return str(client.scheduler_info()["workers"][worker]["name"])


def test_resources_route_steps_a_missing_one_fails_at_once_and_a_remote_failure_is_told(
        tmp_path: Path) -> None:
    emu = ("build:emu1", "build:emu2", "build:emu3")
    with nginx_cache(tmp_path) as cache, dask_cluster(tmp_path) as cluster:
        repo = copy_fixture("remote", tmp_path / "repo")
        env = {"FEDBUILD_CACHE_URL": cache.url}
        given = ("executor=dask", f"scheduler={cluster.address}")
        _build(repo, "-n", "3", *emu, *given, **env)
        qemu = {_name_of(cluster.address, w): w for w in cluster.workers}["w1"]
        state = State(repo)
        where = {task: getattr(Outcome.read(state.outcome(task)), "worker", None) for task in emu}
        assert where == dict.fromkeys(emu, qemu)  # only w1 advertises qemu=1

        result = run_doit(repo, "build:broken", *given, env=env)  # a command failing remotely
        assert result.returncode == 1, result.stdout
        broken = Outcome.read(state.outcome("build:broken"))
        assert broken is not None and broken.status.value == "failed" and broken.worker
        assert broken.exit_code == 1 and "ValueError" in broken.message, broken
        assert "ValueError" in (repo / ".fedbuild/logs/build/broken.log").read_text()

        result = run_doit(repo, "build:board", *given, env=env)
        assert result.returncode != 0
        said = [line for line in result.stdout.splitlines()
                if "needs a Dask worker with resources esp32c3=1" in line]
        assert said and "none of the 2 workers" in said[0], result.stdout


def test_a_step_runs_only_where_its_tool_version_is_the_one_in_its_key(tmp_path: Path) -> None:
    """Each worker tells its version of a step's tool; a step goes only to one with the
    version its key holds, and none having it is one line at once."""
    versions = {"w1": {"VTOOL_VERSION": "1"}, "w2": {"VTOOL_VERSION": "2"}}
    steps = ("build:vt1", "build:vt2")
    with nginx_cache(tmp_path) as cache, dask_cluster(tmp_path, env=versions) as cluster:
        repo = copy_fixture("remote", tmp_path / "repo")
        given = ("executor=dask", f"scheduler={cluster.address}")
        env = {"FEDBUILD_CACHE_URL": cache.url}
        _build(repo, "-n", "2", *steps, *given, **env, VTOOL_VERSION="1")
        one = {_name_of(cluster.address, w): w for w in cluster.workers}["w1"]
        state = State(repo)
        where = {task: getattr(Outcome.read(state.outcome(task)), "worker", None)
                 for task in steps}
        assert where == dict.fromkeys(steps, one)  # only w1 has vtool 1

        result = run_doit(repo, "build:vt1", *given, env={**env, "VTOOL_VERSION": "3"})
        assert result.returncode == 1, result.stdout
        said = [line for line in result.stdout.splitlines()
                if "needs vtool 'vtool 3' (the version in its key)" in line]
        assert said and "none of the 2 workers" in said[0], result.stdout
        assert "'vtool 1'" in said[0] and "'vtool 2'" in said[0], said[0]


def test_a_cluster_speaking_tls_only_with_the_certificates_in_dasks_config(
        tmp_path: Path) -> None:
    """Self-signed certificates made here; the scheduler and workers refuse plain TCP; the
    client is given them through Dask's configuration (DASK_DISTRIBUTED__COMM__TLS__*), as
    README says. Without them: one line, exit 3."""
    tls = self_signed(tmp_path / "cluster" / "certs")  # where the workers can read them
    with nginx_cache(tmp_path) as cache, dask_cluster(tmp_path, tls=tls) as cluster:
        assert cluster.address.startswith("tls://") and cluster.env
        repo = copy_fixture("remote", tmp_path / "repo")
        given = ("executor=dask", f"scheduler={cluster.address}")
        _build(repo, "build:docs", *given, FEDBUILD_CACHE_URL=cache.url, **cluster.env)
        docs = Outcome.read(State(repo).outcome("build:docs"))
        assert docs is not None and docs.worker in cluster.workers, docs
        assert docs.worker.startswith("tls://")

        result = run_doit(repo, "build:lib", *given, env={"FEDBUILD_CACHE_URL": cache.url})
        assert result.returncode == 3, result.stdout + result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and f"at {cluster.address}" in lines[0], result.stderr
        assert "distributed.comm.tls" in lines[0], lines[0]


def test_an_unreachable_scheduler_is_one_line_and_exit_3(tmp_path: Path) -> None:
    repo = copy_fixture("remote", tmp_path / "repo")
    result = run_doit(repo, "executor=dask", f"scheduler=tcp://127.0.0.1:{free_port()}",
                      env={"FEDBUILD_CACHE_URL": "http://127.0.0.1:9/"})
    assert result.returncode == 3, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no Dask scheduler answers at tcp://127.0.0.1:" in lines[0], \
        result.stderr
    assert not (repo / "dist").exists()


def test_an_unreachable_scheduler_with_local_fallback_is_one_warning_and_a_local_build(
        tmp_path: Path) -> None:
    repo = copy_fixture("remote", tmp_path / "repo")
    with nginx_cache(tmp_path) as cache:
        result = run_doit(repo, "executor=dask,local-fallback",
                          f"scheduler=tcp://127.0.0.1:{free_port()}",
                          env={"FEDBUILD_CACHE_URL": cache.url})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("WARNING: no Dask scheduler answers at "
                                                   "tcp://127.0.0.1:"), result.stderr
    assert "executor=dask,local-fallback runs every step here" in lines[0]
    assert _statuses(repo) == {"built"} and set(_where(repo).values()) == {""}


def test_the_manifest_and_fedbuild_scheduler_choose_the_cluster(tmp_path: Path) -> None:
    """federation.execution in modules.json sends a plain `doit`'s steps to the cluster;
    FEDBUILD_SCHEDULER gives executor=dask its address."""
    with nginx_cache(tmp_path) as cache, dask_cluster(tmp_path) as cluster:
        repo = copy_fixture("remote", tmp_path / "manifest")
        manifest = json.loads((repo / "modules.json").read_text())
        manifest["federation"]["execution"] = {"executor": "dask",
                                               "scheduler": cluster.address, "remote_jobs": 2}
        (repo / "modules.json").write_text(json.dumps(manifest))
        _build(repo, FEDBUILD_CACHE_URL=cache.url)
        assert set(_where(repo).values()) <= set(cluster.workers) and all(_where(repo).values())

        repo = copy_fixture("remote", tmp_path / "environment")
        _build(repo, "build:emu1", "executor=dask", FEDBUILD_SCHEDULER=cluster.address,
               FEDBUILD_CACHE_URL=cache.url)  # not in the cache yet
        emu = Outcome.read(State(repo).outcome("build:emu1"))
        assert emu is not None and emu.worker in cluster.workers, emu


@pytest.mark.parametrize(("argv", "said"), [
    (("executor=spark",), "'spark' is not an executor; use executor=local or executor=dask"),
    (("executor=dask",), "executor=dask needs the scheduler's address"),
    (("executor=dask", "remote_jobs=0"), "'0' is not a number of tasks in flight"),
    (("executor=dask", "scheduler=tcp://127.0.0.1:1"), "executor=dask moves inputs and outputs "
                                                       "through a remote cache"),
])
def test_executor_mistakes_are_one_line_and_exit_3(tmp_path: Path, argv: tuple[str, ...],
                                                   said: str) -> None:
    repo = copy_fixture("remote", tmp_path / "repo")
    result = run_doit(repo, *argv)
    assert result.returncode == 3, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and said in lines[0], result.stderr
