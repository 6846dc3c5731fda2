"""Kill trials: SIGKILL and SIGINT at chosen moments of `doit -n 2`, under -P thread and -P process.

    python bench/kill_trials.py [--trials 50] [--seed 1] [--pages 400] [--json FILE] [--keep]

One monorepo (tests/fixtures/kill-trials: three site modules whose builds take a
second and leave a detached process behind, docs with `--pages` pages so a publish
takes a measurable time) is built once. Each trial then writes a new version into
every module, starts `doit -n 2 -P MODE`, waits until the run reaches its moment
(polled from the run's own files, never guessed with a sleep), sends the signal and
checks, in order:

- the stopped run's public/ is one whole published tree (`sha256sum -c` of
  .federation/checksums.sha256 passes, it lists every file, every page has one version);
- the next `doit -n 2 -P MODE` succeeds and publishes the new version;
- no process of the stopped run survives it (its process tree at the signal, and
  anything carrying its FEDBUILD_RUN mark);
- a no-op run after it reports every task up to date.

Moments: `locked` (the run holds the repository lock), `building` (a build started),
`built` (a build ended), `assembling` (federate is writing the new tree beside public/),
`swap` (the new tree is complete, or public/ has just been exchanged for it). A random
delay of up to --jitter seconds after the moment spreads the stops within each phase.
Prints one line per trial and a table; exit 1 if any trial failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

ROOT = Path(__file__).resolve().parent.parent
DODO = ROOT / "dodo.py"
FIXTURE = ROOT / "tests" / "fixtures" / "kill-trials"
MODES = ("thread", "process")
SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGINT": signal.SIGINT}
MOMENTS = ("locked", "building", "built", "assembling", "swap")
TASKS = 4  # build:docs, build:shop, build:home, federate
RUN_VARIABLE = "FEDBUILD_RUN"  # core/runner.py: every process of a run carries it
TIMEOUT = 120.0  # for any one doit run, and for reaching a moment
_UP_TO_DATE = re.compile(r"^(\d+) tasks: (\d+) up to date$", re.MULTILINE)


@dataclass(frozen=True)
class Trial:
    """What to do: the parallel type, the signal and the moment to send it at."""

    mode: str
    signal: str
    moment: str
    jitter: float = 0.0


@dataclass
class Result:
    """What a trial found: where public/ stood after the stop, and whether all checks held."""

    trial: Trial
    stopped: str = ""  # "old" or "new" version published when the run stopped; "none"
    reached: bool = True  # False: the run ended before the moment (signal sent anyway)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every check held."""
        return not self.failures

    def outcome(self) -> str:
        """"ok", or the first failure (and how many more)."""
        if self.ok:
            return "ok"
        more = f" (+{len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
        return self.failures[0] + more


class Monorepo:
    """The trials' repository, its version counter and the doit runs on it."""

    def __init__(self, path: Path, pages: int) -> None:
        self.path = path
        self.pages = pages
        self.version = 0
        self.log = path.parent / "trial.log"  # the builds' start/end lines ($TRIAL_LOG)

    @classmethod
    def create(cls, workdir: Path, pages: int) -> Monorepo:
        """Copy the fixture into workdir and build version 0 (raises if that fails)."""
        repo = cls(workdir / "repo", pages)
        shutil.copytree(FIXTURE, repo.path, symlinks=True)
        repo.write_version()
        first = repo.doit("-n", "2")
        if first.returncode != 0:
            raise RuntimeError(f"the first build failed:\n{first.stdout[-3000:]}")
        return repo

    @property
    def public(self) -> Path:
        """The published tree."""
        return self.path / "public"

    def write_version(self) -> None:
        """Every page of every module says self.version (so every build and federate rerun)."""
        v = self.version
        docs = self.path / "modules/docs/pages"
        for i in range(self.pages):
            page = docs / f"p{i:04d}" / "index.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(f"<html><body><h1>page {i} version {v}</h1>\n"
                            f'<a href="/docs/p{(i + 1) % self.pages:04d}/">next</a>\n'
                            f"<p>{'lorem ipsum ' * 100}</p></body></html>\n")
        for name in ("docs", "shop", "home"):
            (self.path / f"modules/{name}/pages/index.html").write_text(
                f"<html><body><h1>{name} version {v}</h1></body></html>\n")

    def argv(self, *args: str) -> list[str]:
        """`doit run ARGS` on this repository, with fedbuild's dodo.py."""
        return [sys.executable, "-m", "doit", "run", "-f", str(DODO), "-d", str(self.path),
                *args]

    def env(self) -> dict[str, str]:
        """The environment of every run: plain output, builds logging to self.log."""
        return {**os.environ, "NO_COLOR": "1", "TRIAL_LOG": str(self.log)}

    def doit(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run doit to its end, output captured."""
        return subprocess.run(self.argv(*args), cwd=self.path, env=self.env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=TIMEOUT, check=False)


def run_trial(repo: Monorepo, trial: Trial, out: Path) -> Result:
    """One trial on repo: stop a run at trial's moment, then check everything (see above)."""
    result = Result(trial)
    started = time.monotonic()
    repo.version += 1
    repo.write_version()
    repo.log.write_text("")
    before = _inode(repo.public)
    with out.open("w") as output:
        proc = subprocess.Popen(repo.argv("-n", "2", "-P", trial.mode), cwd=repo.path,
                                env=repo.env(), stdout=output, stderr=subprocess.STDOUT)
    try:
        result.reached = _poll(lambda: proc.poll() is not None
                               or _at(repo, trial.moment, proc.pid, before))
        result.reached = result.reached and proc.poll() is None
        if trial.jitter:
            time.sleep(trial.jitter)
        token = _token(repo.path / ".fedbuild/lock", proc.pid)
        tree = _tree(proc.pid)
        proc.send_signal(SIGNALS[trial.signal])
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    result.stopped, problem = _published(repo, before)
    if problem:
        result.failures.append(f"after the stop: {problem}")
    _check_next_runs(repo, trial, result)
    survivors = _alive(tree) + (_marked(token) if token else [])
    if survivors:
        result.failures.append(f"{len(survivors)} processes of the stopped run survived the "
                               f"next run: {sorted(set(survivors))[:5]}")
        for pid in survivors:  # not to spoil the next trial
            with suppress(psutil.Error):  # gone meanwhile
                psutil.Process(pid).kill()
    result.seconds = time.monotonic() - started
    return result


def _check_next_runs(repo: Monorepo, trial: Trial, result: Result) -> None:
    """The next run succeeds and publishes this version; a no-op after it does nothing."""
    after = repo.doit("-n", "2", "-P", trial.mode)
    if after.returncode != 0:
        last = after.stdout.strip().splitlines()[-3:]
        result.failures.append(f"next run exit {after.returncode}: {' | '.join(last)}")
        return
    version, problem = _whole(repo.public)
    if problem or version != str(repo.version):
        result.failures.append(f"after the next run: {problem or f'version {version}'}")
    noop = repo.doit("-n", "2", "-P", trial.mode)
    counts = _UP_TO_DATE.search(noop.stdout)
    if noop.returncode != 0 or not counts or counts.groups() != (str(TASKS), str(TASKS)):
        summary = counts.group(0) if counts else noop.stdout.strip().splitlines()[-1:]
        result.failures.append(f"no-op exit {noop.returncode}: {summary}")


def _at(repo: Monorepo, moment: str, pid: int, before: int | None) -> bool:
    """Whether the run has reached `moment`, judged from its files."""
    if moment == "locked":
        return _token(repo.path / ".fedbuild/lock", pid) is not None
    if moment in ("building", "built"):
        word = "start" if moment == "building" else "end"
        return any(line.endswith(f" {word}") for line in _lines(repo.log))
    new = list(repo.path.glob(".public.new-*"))
    if moment == "assembling":
        return bool(new)
    # swap: the new tree is complete (its checksums are the last file written), or the
    # exchange has happened and the old tree is being removed
    return any((n / ".federation/checksums.sha256").exists() for n in new) or (
        before is not None and _inode(repo.public) not in (None, before))


def _published(repo: Monorepo, before: int | None) -> tuple[str, str]:
    """("old" | "new" | "none", a problem or "") for public/ right after the stop."""
    if not repo.public.exists():
        return "none", "public/ is missing" if before is not None else ""
    version, problem = _whole(repo.public)
    if problem:
        return "?", problem
    if version == str(repo.version):
        return "new", ""
    if version == str(repo.version - 1):
        return "old", ""
    return "?", f"public/ has version {version}, neither {repo.version - 1} nor {repo.version}"


def _whole(public: Path) -> tuple[str, str]:
    """(the version every page has, "") if public/ is one whole tree, else ("", problem)."""
    check = subprocess.run(["sha256sum", "--strict", "--quiet", "-c",
                            ".federation/checksums.sha256"], cwd=public, capture_output=True,
                           text=True, check=False, timeout=TIMEOUT)
    if check.returncode != 0:
        return "", f"sha256sum -c failed: {(check.stdout + check.stderr).strip()[:200]}"
    listed = {line.split("  ", 1)[1] for line in
              (public / ".federation/checksums.sha256").read_text().splitlines()}
    on_disk = {str(p.relative_to(public)) for p in public.rglob("*")
               if p.is_file() and ".federation" not in p.parts}
    if listed != on_disk:
        return "", f"checksums list {len(listed)} files, {len(on_disk)} on disk"
    versions = {_version(p.read_text()) for p in public.rglob("index.html")}
    if len(versions) != 1:
        return "", f"pages of versions {sorted(versions)}"
    return versions.pop(), ""


def _version(page: str) -> str:
    """The version a page says it is of ("?" if none)."""
    found = re.search(r"version (-?\d+)", page)
    return found.group(1) if found else "?"


def _poll(condition: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    """Poll condition every 2 ms until it holds (True) or timeout passes (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def _token(lock: Path, pid: int) -> str | None:
    """The run mark of the run pid, once it holds the lock (core/lock.py: Holder.token)."""
    try:
        data = json.loads(lock.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("pid") != pid:
        return None
    return f"{data['pid']}-{float(data['since']):.6f}"


def _tree(pid: int) -> list[int]:
    """pid's descendants now (the run's workers, builds and what they started)."""
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _alive(pids: list[int]) -> list[int]:
    """Which of pids still run (zombies count as dead)."""
    living = []
    for pid in pids:
        with suppress(psutil.Error):  # gone meanwhile
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                living.append(pid)
    return living


def _marked(token: str) -> list[int]:
    """Live processes whose environment carries the stopped run's mark."""
    entry = f"{RUN_VARIABLE}={token}".encode()
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/environ", "rb") as environ:
                    if entry in environ.read().split(b"\0"):
                        found.append(int(name))
            except OSError:
                continue
    return _alive(found)


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def plan(count: int, rng: random.Random, jitter: float) -> list[Trial]:
    """count trials: every mode x signal x moment in turn (shuffled), random delays."""
    combos = [(m, s, w) for m in MODES for s in SIGNALS for w in MOMENTS]
    trials: list[Trial] = []
    while len(trials) < count:
        rng.shuffle(combos)
        trials += [Trial(m, s, w, round(rng.uniform(0, jitter), 3) if w != "swap" else 0.0)
                   for m, s, w in combos[:count - len(trials)]]
    return trials


def table(results: list[Result]) -> str:
    """The per-trial table, then the counts."""
    rows = [("trial", "mode", "signal", "moment", "public after stop", "outcome", "seconds")]
    for i, r in enumerate(results, start=1):
        moment = r.trial.moment + (f"+{r.trial.jitter:.2f}s" if r.trial.jitter else "")
        if not r.reached:
            moment += " (run ended first)"
        rows.append((str(i), r.trial.mode, r.trial.signal, moment, r.stopped, r.outcome(),
                     f"{r.seconds:.1f}"))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    ok = sum(r.ok for r in results)
    by = Counter((r.trial.mode, r.trial.signal, r.ok) for r in results)
    lines += ["", f"{len(results)} trials: {ok} ok, {len(results) - ok} failed"]
    for mode in MODES:
        for sig in SIGNALS:
            good, bad = by[(mode, sig, True)], by[(mode, sig, False)]
            lines.append(f"  -P {mode:<7} {sig:<7} {good + bad:>3} trials, {bad} failed")
    stops = Counter(r.stopped for r in results)
    lines.append("  public/ right after the stop: "
                 + ", ".join(f"{k} {v}" for k, v in sorted(stops.items())))
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pages", type=int, default=400, help="docs pages (publish size)")
    parser.add_argument("--jitter", type=float, default=0.3,
                        help="largest random delay after a moment, seconds")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the monorepo and logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the trials, print each and the table; exit 1 if any failed."""
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="fedbuild-kill-trials-"))
    results: list[Result] = []
    try:
        repo = Monorepo.create(workdir, args.pages)
        for i, trial in enumerate(plan(args.trials, random.Random(args.seed), args.jitter), 1):
            result = run_trial(repo, trial, workdir / f"run-{i:03d}.out")
            results.append(result)
            print(f"{i:>3} {trial.mode:<7} {trial.signal:<7} {trial.moment:<10} "
                  f"{result.stopped:<4} {result.outcome()}", flush=True)
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([{**asdict(r), "ok": r.ok} for r in results], indent=2))
    return 0 if results and all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
