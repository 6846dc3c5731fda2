"""`python -m hardware test`: read a board's Unity test output over serial and judge it.

Each case is printed as it arrives, then Unity's summary, the decoded crash if any, and one
`error:` line per problem; the exit code is 0 only for an OK summary with no failure and no
crash. `python -m hardware qemu` reports through the same functions.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hardware.errors import HardwareError
from hardware.unity import TestCase, UnityReport, junit_xml

DEFAULT_TIMEOUT = 30.0
LOCK_TIMEOUT = 120.0  # a flash of the same board may be running: wait for it this long
T = TypeVar("T")


def main(argv: list[str]) -> int:
    """Read one board's test run; 0 if it passed."""
    args = parser().parse_args(argv)
    from hardware.monitor import read_unity
    from hardware.portlock import port_lock

    port = one_port(args.port)
    elf = Path(args.elf) if args.elf else None
    with port_lock(port, Path(args.lock_dir) if args.lock_dir else None, LOCK_TIMEOUT):
        print(f"reading Unity output from {port} (timeout {args.timeout:g}s)", flush=True)
        report = read_unity(port, baud=args.baud, timeout=args.timeout, reset=args.reset,
                            banner=args.banner or None, elf=elf, on_case=print_case)
    return conclude(report, Path(args.junit) if args.junit else None,
                    args.suite or suite_name(elf))


def parser() -> argparse.ArgumentParser:
    """The command line; an empty value ("") means the option was not given."""
    p = argparse.ArgumentParser(prog="python -m hardware test", description=__doc__)
    p.add_argument("--port", default="", help="pyserial port or URL (default: the one board)")
    p.add_argument("--baud", type=or_default(int, 115200), default=115200)
    p.add_argument("--timeout", type=or_default(float, DEFAULT_TIMEOUT),
                   default=DEFAULT_TIMEOUT, help="seconds to wait for the summary")
    p.add_argument("--reset", action=argparse.BooleanOptionalAction, default=True,
                   help="reset the board through RTS before reading (default: yes)")
    p.add_argument("--banner", default="", help="regex of a line to wait for before parsing")
    add_report_options(p)
    p.add_argument("--lock-dir", default="", help="folder of the port locks")
    return p


def add_report_options(p: argparse.ArgumentParser) -> None:
    """--junit, --elf, --suite: shared with `python -m hardware qemu`."""
    p.add_argument("--junit", default="", help="write JUnit XML here")
    p.add_argument("--elf", default="", help="the app's ELF, to decode a crash's backtrace")
    p.add_argument("--suite", default="", help="test suite name in the JUnit XML")


def one_port(port_arg: str) -> str:
    """The given port, or the one connected board's."""
    from hardware.ports import pick_port

    ports = pick_port(port_arg)
    if len(ports) != 1:
        raise HardwareError(f"a test reads one board, got {len(ports)} ports "
                            f"({', '.join(ports)}); give one with port=...")
    return ports[0]


def suite_name(elf: Path | None) -> str:
    """The JUnit suite's default name: the ELF's stem, else "unity"."""
    return elf.stem if elf is not None else "unity"


def print_case(case: TestCase) -> None:
    """One line a case, as soon as it is parsed."""
    print(case.describe(), flush=True)


def conclude(report: UnityReport, junit: Path | None, suite: str) -> int:
    """Print the summary, the crash and the problems, write the JUnit XML; the exit code."""
    for note in report.notes:
        print(f"note: {note}")
    if report.summary is not None:
        print(f"{report.summary.describe()} ({report.duration:.1f}s)")
    if report.crash is not None:
        print(f"CRASH {report.crash.reason}")
        for line in report.crash.text.splitlines()[1:]:
            print(f"  {line}" if line.strip() else "")
        print(f"  ({report.crash.note})")
    if junit is not None:
        junit_xml(report, suite, junit)
        print(f"JUnit XML: {junit}")
    sys.stdout.flush()
    problems = report.problems()
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def or_default(kind: Callable[[str], T], default: T) -> Callable[[str], T]:
    """An argparse type that reads "" as `default` (the YAML step passes "" when unset)."""
    def convert(text: str) -> T:
        return default if text == "" else kind(text)
    convert.__name__ = kind.__name__  # argparse names the type in its error message
    return convert
