"""Benchmark results as data: medians, ratios to fedbuild, a plain-text table, a JSON document."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from bench.measure import TOOLS

MEASURES = ("cold", "no-op", "one-changed")
OTHERS = ("plain-doit", "make", "ninja")
HEADERS = ("modules", "files", "measure", *TOOLS, *(f"fedbuild/{o}" for o in OTHERS))


@dataclass
class SizeResult:
    """Every timed run for one monorepo size: seconds and builds done, per measure and tool."""

    modules: int
    files_per_module: int
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    builds: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    cpu: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    rss_mb: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    rss_floor_mb: float = 0.0  # peaks at or below the benchmark's own RSS are not known

    def add(self, measure: str, tool: str, seconds: float, builds: int,
            cpu: float | None = None, rss_mb: float | None = None,
            rss_floor_mb: float = 0.0) -> None:
        """Record one run (CPU seconds and peak RSS when measured)."""
        self.rss_floor_mb = max(self.rss_floor_mb, rss_floor_mb)
        self.samples.setdefault(measure, {}).setdefault(tool, []).append(seconds)
        self.builds.setdefault(measure, {}).setdefault(tool, []).append(builds)
        if cpu is not None:
            self.cpu.setdefault(measure, {}).setdefault(tool, []).append(cpu)
        if rss_mb is not None:
            self.rss_mb.setdefault(measure, {}).setdefault(tool, []).append(rss_mb)

    def seconds(self, measure: str, tool: str, how: str = "median") -> float | None:
        """The median (or `how="min"`) of the tool's wall times for the measure; None when
        it did not run."""
        return _reduce(self.samples, measure, tool, how)

    def cpu_seconds(self, measure: str, tool: str) -> float | None:
        """The median CPU seconds of the tool's runs; None when not measured."""
        return _reduce(self.cpu, measure, tool, "median")

    def peak_rss(self, measure: str, tool: str) -> float | None:
        """The largest peak RSS (MB) of the tool's runs; None when not measured."""
        return _reduce(self.rss_mb, measure, tool, "max")

    def ratio(self, measure: str, other: str, how: str = "median") -> float | None:
        """fedbuild's seconds divided by the other tool's; None when either is missing."""
        ours, theirs = self.seconds(measure, "fedbuild", how), self.seconds(measure, other, how)
        return _divide(ours, theirs)

    def to_json(self) -> dict[str, Any]:
        """Medians, ratios and every sample, for bench/results/noop.json."""
        return {
            "modules": self.modules,
            "files_per_module": self.files_per_module,
            "inputs_per_task": self.files_per_module + 2,
            "seconds": {m: {t: self.seconds(m, t) for t in TOOLS} for m in MEASURES},
            "min_seconds": {m: {t: self.seconds(m, t, "min") for t in TOOLS} for m in MEASURES},
            "cpu_seconds": {m: {t: self.cpu_seconds(m, t) for t in TOOLS} for m in MEASURES},
            "peak_rss_mb": {m: {t: self.peak_rss(m, t) for t in TOOLS} for m in MEASURES},
            "ratios": {m: {f"fedbuild/{o}": self.ratio(m, o) for o in OTHERS} for m in MEASURES},
            "samples": self.samples,
            "cpu_samples": self.cpu,
            "rss_samples_mb": self.rss_mb,
            "builds": self.builds,
            "rss_floor_mb": self.rss_floor_mb,
        }


def _reduce(table: dict[str, dict[str, list[float]]], measure: str, tool: str,
            how: str) -> float | None:
    runs = table.get(measure, {}).get(tool)
    if not runs:
        return None
    if how == "median":
        return statistics.median(runs)
    return min(runs) if how == "min" else max(runs)


def _divide(ours: float | None, theirs: float | None) -> float | None:
    return ours / theirs if ours is not None and theirs else None


def format_table(results: list[SizeResult], repeat: int) -> str:
    """The plain-text table: seconds per tool, then fedbuild's time as a multiple of each."""
    rows = [list(HEADERS)]
    for result in results:
        for measure in MEASURES:
            rows.append([str(result.modules), str(result.files_per_module), measure,
                         *(seconds_text(result.seconds(measure, t)) for t in TOOLS),
                         *(ratio_text(result.ratio(measure, o)) for o in OTHERS)])
    lines = aligned(rows, left=3)
    notes = [f"seconds: cold = one run; no-op and one-changed = median of {repeat} runs.",
             "fedbuild/X = fedbuild's seconds divided by X's (2.0x: fedbuild takes twice as long).",
             *_slopes(results)]
    return "\n".join([*lines, "", *notes, "", *noop_detail(results, repeat)])


DETAIL_HEADERS = ("modules", "tool", "min s", "median s", "cpu s", "peak RSS MB",
                  "fedbuild/tool min", "median", "cpu", "RSS")


def noop_detail(results: list[SizeResult], repeat: int) -> list[str]:
    """The no-op per tool: best and median wall time, median CPU time, peak RSS, and
    fedbuild's multiple of each; none when CPU and RSS were not measured."""
    if not any(r.cpu.get("no-op") for r in results):
        return []
    rows = [list(DETAIL_HEADERS)]
    for r in results:
        ours = (r.seconds("no-op", "fedbuild", "min"), r.seconds("no-op", "fedbuild"),
                r.cpu_seconds("no-op", "fedbuild"), r.peak_rss("no-op", "fedbuild"))
        for tool in TOOLS:
            theirs = (r.seconds("no-op", tool, "min"), r.seconds("no-op", tool),
                      r.cpu_seconds("no-op", tool), r.peak_rss("no-op", tool))
            rss = "n/a" if r.cpu_seconds("no-op", tool) is None else f"<{r.rss_floor_mb:.0f}"
            rows.append([str(r.modules), tool, *(seconds_text(v) for v in theirs[:3]),
                         rss if theirs[3] is None else f"{theirs[3]:.0f}",
                         *(ratio_text(_divide(a, b)) for a, b in zip(ours, theirs, strict=True))])
    return [f"no-op in detail ({repeat} runs a tool, interleaved): wall min and median, "
            "median CPU (user+system), largest peak RSS (<N: no more than the benchmark's own)",
            *aligned(rows, left=2),
            *_cpu_slopes(results)]


def _cpu_slopes(results: list[SizeResult]) -> list[str]:
    """The CPU cost model: fixed cost and cost per module, fitted through the smallest and
    the largest monorepo."""
    if len(results) < 2:
        return []
    small, large = min(results, key=lambda r: r.modules), max(results, key=lambda r: r.modules)
    parts = []
    for tool in TOOLS:
        a, b = small.cpu_seconds("no-op", tool), large.cpu_seconds("no-op", tool)
        if a is not None and b is not None:
            per = (b - a) / (large.modules - small.modules)
            parts.append(f"{tool} {(a - per * small.modules) * 1e3:.0f} ms + {per * 1e3:.2f} ms")
    return ["no-op CPU cost model (fixed + per module): " + ", ".join(parts)]


def aligned(rows: list[list[str]], left: int) -> list[str]:
    """Rows as lines of padded columns: the first `left` columns left-aligned, numbers right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) if i < left else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
            for row in rows]


def seconds_text(value: float | None) -> str:
    """Seconds with three decimals, or n/a."""
    return "n/a" if value is None else f"{value:.3f}"


def ratio_text(value: float | None) -> str:
    """A ratio like 3.0x, or n/a."""
    return "n/a" if value is None else f"{value:.1f}x"


def _slopes(results: list[SizeResult]) -> list[str]:
    """Per-module no-op cost: the slope between the smallest and the largest monorepo."""
    if len(results) < 2:
        return []
    small, large = min(results, key=lambda r: r.modules), max(results, key=lambda r: r.modules)
    parts = []
    for tool in TOOLS:
        a, b = small.seconds("no-op", tool), large.seconds("no-op", tool)
        if a is not None and b is not None:
            parts.append(f"{tool} {(b - a) / (large.modules - small.modules) * 1e3:.2f} ms")
    return [f"no-op cost per module (N={small.modules} to N={large.modules}): " + ", ".join(parts)]


def document(results: list[SizeResult], settings: dict[str, Any]) -> dict[str, Any]:
    """The JSON document: when, where, with what settings, and the results."""
    return {
        "benchmark": "noop",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "settings": settings,
        "results": [r.to_json() for r in results],
    }


def machine() -> dict[str, Any]:
    """Versions and CPU count, so results from different machines are not compared blindly."""
    return {
        "platform": platform.platform(),
        "cpus": _cpu_count(),
        "python": sys.version.split()[0],
        "doit": version("doit"),
        "make": _version("make", "--version"),
        "ninja": _version("ninja", "--version"),
    }


def _cpu_count() -> int | None:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _version(tool: str, flag: str) -> str | None:
    exe = shutil.which(tool)
    if exe is None:
        return None
    proc = subprocess.run([exe, flag], capture_output=True, text=True, timeout=10, check=False)
    return (proc.stdout.splitlines() or [""])[0].strip() or None
