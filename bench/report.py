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

    def add(self, measure: str, tool: str, seconds: float, builds: int) -> None:
        """Record one run."""
        self.samples.setdefault(measure, {}).setdefault(tool, []).append(seconds)
        self.builds.setdefault(measure, {}).setdefault(tool, []).append(builds)

    def seconds(self, measure: str, tool: str) -> float | None:
        """The median of the tool's runs for the measure; None when it did not run."""
        runs = self.samples.get(measure, {}).get(tool)
        return statistics.median(runs) if runs else None

    def ratio(self, measure: str, other: str) -> float | None:
        """fedbuild's seconds divided by the other tool's; None when either is missing."""
        ours, theirs = self.seconds(measure, "fedbuild"), self.seconds(measure, other)
        return ours / theirs if ours is not None and theirs else None

    def to_json(self) -> dict[str, Any]:
        """Medians, ratios and every sample, for bench/results/noop.json."""
        return {
            "modules": self.modules,
            "files_per_module": self.files_per_module,
            "inputs_per_task": self.files_per_module + 2,
            "seconds": {m: {t: self.seconds(m, t) for t in TOOLS} for m in MEASURES},
            "ratios": {m: {f"fedbuild/{o}": self.ratio(m, o) for o in OTHERS} for m in MEASURES},
            "samples": self.samples,
            "builds": self.builds,
        }


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
    return "\n".join([*lines, "", *notes])


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
