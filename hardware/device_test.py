"""`python -m hardware test`: read a board's Unity test output over serial and judge it.

Each case is printed as it arrives, then Unity's summary, the decoded crash if any, and one
`error:` line per problem; the exit code is 0 only for an OK summary with no failure and no
crash. `python -m hardware qemu` reports through the same functions.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO, TypeVar

from core.errors import HardwareError
from hardware.ports import port_slug
from hardware.unity import TestCase, UnityReport, junit_xml

# Seconds to wait for the Unity summary when --timeout is not given (FEDBUILD_SERIAL_TIMEOUT
# changes it for every firmware test step at once).
DEFAULT_TIMEOUT = float(os.environ.get("FEDBUILD_SERIAL_TIMEOUT") or 30.0)
LOCK_TIMEOUT = 120.0  # a flash of the same board may be running: wait for it this long
T = TypeVar("T")


def main(argv: list[str]) -> int:
    """Read the test run of one board, or of several at once (port=a,b); 0 if all passed."""
    args = parser().parse_args(argv)
    from hardware.ports import pick_port

    ports = pick_port(args.port)
    if len(ports) == 1:
        return read_board(args, ports[0], print_case)
    # Several boards: each read in its own thread, each reported as one block when done.
    results: dict[str, tuple[int, str]] = {}

    def read(port: str) -> None:
        out = io.StringIO()
        try:
            code = read_board(args, port, lambda case: print(case.describe(), file=out),
                              junit_suffix=port_slug(port), out=out, err=out)
        except HardwareError as err:
            out.write(f"error: {err}\n")
            code = 1
        results[port] = (code, out.getvalue())

    threads = [threading.Thread(target=read, args=(port,), name=port) for port in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for port in ports:
        code, text = results[port]
        print(f"== {port}: {'passed' if code == 0 else 'FAILED'}")
        print(text.rstrip())
    failed = [port for port in ports if results[port][0] != 0]
    if failed:
        print(f"error: tests failed on {len(failed)} of {len(ports)} boards: "
              f"{', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def read_board(args: argparse.Namespace, port: str, on_case: Callable[[TestCase], None],
               junit_suffix: str = "", out: TextIO | None = None,
               err: TextIO | None = None) -> int:
    """Read one board's Unity run under its port lock; print and conclude it."""
    from hardware.monitor import read_unity
    from hardware.portlock import port_lock

    elf = Path(args.elf) if args.elf else None
    junit = Path(args.junit) if args.junit else None
    if junit is not None and junit_suffix:
        junit = junit.with_name(f"{junit.stem}-{junit_suffix}{junit.suffix}")
    with port_lock(port, Path(args.lock_dir) if args.lock_dir else None, LOCK_TIMEOUT):
        print(f"reading Unity output from {port} (timeout {args.timeout:g}s)",
              file=out or sys.stdout, flush=True)
        report = read_unity(port, baud=args.baud, timeout=args.timeout, reset=args.reset,
                            banner=args.banner or None, elf=elf, on_case=on_case)
    return conclude(report, junit, args.suite or suite_name(elf), out, err)


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


def suite_name(elf: Path | None) -> str:
    """The JUnit suite's default name: the ELF's stem, else "unity"."""
    return elf.stem if elf is not None else "unity"


def print_case(case: TestCase) -> None:
    """One line a case, as soon as it is parsed."""
    print(case.describe(), flush=True)


def conclude(report: UnityReport, junit: Path | None, suite: str,
             out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the summary, the crash and the problems, write the JUnit XML; the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    for note in report.notes:
        print(f"note: {note}", file=out)
    if report.summary is not None:
        print(f"{report.summary.describe()} ({report.duration:.1f}s)", file=out)
    if report.crash is not None:
        print(f"CRASH {report.crash.reason}", file=out)
        for line in report.crash.text.splitlines()[1:]:
            print(f"  {line}" if line.strip() else "", file=out)
        print(f"  ({report.crash.note})", file=out)
    if junit is not None:
        junit_xml(report, suite, junit)
        print(f"JUnit XML: {junit}", file=out)
    out.flush()
    problems = report.problems()
    for problem in problems:
        print(f"error: {problem}", file=err)
    return 1 if problems else 0


def or_default(kind: Callable[[str], T], default: T) -> Callable[[str], T]:
    """An argparse type that reads "" as `default` (the YAML step passes "" when unset)."""
    def convert(text: str) -> T:
        return default if text == "" else kind(text)
    convert.__name__ = kind.__name__  # argparse names the type in its error message
    return convert
