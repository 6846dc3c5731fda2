"""`python -m hardware flash`: write a build to one or several boards, verify it, reset them.

Every esptool call is a subprocess run by core.runner (timeout, process-tree kill, a log
per port); esptool is GPL-2.0, and running it keeps the licensing simple. Each board is
flashed in its own thread under its port lock: write-flash, then verify-flash in a new
connection (a board's bootloader may drop the first session soon after writing), whose
`--after` resets the board. esptool's output is turned into one line a user can act on.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from queue import Queue

from core import runner
from core.chips import chip, chip_from_title
from core.errors import HardwareError
from core.sizes import format_size
from hardware.flasher_args import FlashPlan, read_flasher_args
from hardware.portlock import port_lock
from hardware.ports import pick_port, port_slug

DEFAULT_BAUD = 460800  # what idf.py flash uses
DEFAULT_TIMEOUT = 300.0  # per esptool call: a 4 MB image at 115200 baud takes minutes
DEFAULT_LOCK_TIMEOUT = 300.0  # another flash or test of the same board may be running
LOG_FOLDER = "flash-logs"  # next to flasher_args.json, unless --log-dir says otherwise
WRITE, VERIFY = "write-flash", "verify-flash"
_NO_RESET = ("no-reset", "no-reset-stub")
# esptool runs in a thread's subprocess; after Ctrl-C no thread may start another one.
_stopping = threading.Event()


@dataclass(frozen=True)
class FlashOptions:
    """How to flash, the same for every port."""

    chip: str
    log_dir: Path
    baud: int = DEFAULT_BAUD
    timeout: float = DEFAULT_TIMEOUT
    lock_dir: Path | None = None
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    verify: bool = True
    reset: bool = True


@dataclass(frozen=True)
class PortResult:
    """What flashing one port did."""

    port: str
    ok: bool
    reason: str = ""  # one line, when not ok
    log: Path | None = None
    verified: bool = False
    reset: bool = False
    waited: float = 0.0  # for the port lock
    duration: float = 0.0  # with the port held

    def line(self, what: str) -> str:
        """E.g. "/dev/ttyUSB0: flashed 2 regions (74.2 KB) to esp32c3 in 3.1s, verified, reset"."""
        if not self.ok:
            return f"{self.port}: FAILED: {self.reason}"
        checked = "verified" if self.verified else "not verified"
        after = "reset" if self.reset else "not reset"
        waited = f" (waited {self.waited:.1f}s for the port)" if self.waited >= 0.5 else ""
        return (f"{self.port}: flashed {what} in {self.duration:.1f}s, {checked}, "
                f"{after}{waited}")


def main(argv: list[str]) -> int:
    """Flash a build's flasher_args.json to the chosen boards; exit 1 if any failed."""
    args = _parser().parse_args(argv)
    flasher_args = Path(args.flasher_args).absolute()
    plan = read_flasher_args(flasher_args)
    if not (args.chip or args.target):
        raise HardwareError("flash: give --target CHIP (or --chip CHIP)")
    expected = chip(args.chip or args.target).name
    if plan.chip != expected:
        raise HardwareError(f"{flasher_args}: the firmware is built for {plan.chip}, but the "
                            f"target is {expected}; build it for {expected} first")
    if args.port and args.ports:
        raise HardwareError("flash: give port=... or ports=..., not both")
    ports = pick_port(args.port or args.ports or "")
    options = FlashOptions(
        chip=expected, log_dir=args.log_dir or flasher_args.parent / LOG_FOLDER,
        baud=args.baud or DEFAULT_BAUD, timeout=args.timeout or DEFAULT_TIMEOUT,
        lock_dir=args.lock_dir, lock_timeout=args.lock_timeout or DEFAULT_LOCK_TIMEOUT,
        verify=not args.no_verify, reset=not args.no_reset)
    what = plan_summary(plan)
    results = flash_all(plan, ports, options, lambda r: print(r.line(what), flush=True))
    failed = [r for r in results if not r.ok]
    if len(failed) == 1:
        raise HardwareError(failed[0].reason)
    if failed:
        raise HardwareError(f"flashing failed on {len(failed)} of {len(results)} ports: "
                            f"{', '.join(r.port for r in failed)}")
    return 0


def flash_all(plan: FlashPlan, ports: list[str], options: FlashOptions,
              report: Callable[[PortResult], None] | None = None) -> list[PortResult]:
    """Flash every port at once (a thread each), `report` each result as it comes; the
    results in the order of `ports`. Meant for the flash command's own process: an
    interrupt kills every process tree core.runner started in it."""
    done: Queue[tuple[int, PortResult | BaseException]] = Queue()

    def work(index: int, port: str) -> None:
        try:
            done.put((index, flash_port(plan, port, options)))
        except BaseException as err:  # a bug: re-raised in the caller's thread
            done.put((index, err))

    for index, port in enumerate(ports):
        # Daemon: a thread still waiting for a port lock must not hold up Ctrl-C.
        threading.Thread(target=work, args=(index, port), name=f"flash {port}",
                         daemon=True).start()
    results: dict[int, PortResult] = {}
    try:
        while len(results) < len(ports):
            index, outcome = done.get()
            if isinstance(outcome, BaseException):
                raise outcome
            results[index] = outcome
            if report is not None:
                report(outcome)
    except BaseException:
        _stopping.set()
        runner.kill_all()
        raise
    return [results[i] for i in range(len(ports))]


def flash_port(plan: FlashPlan, port: str, options: FlashOptions) -> PortResult:
    """Write, verify and reset the board on `port` while holding its port lock."""
    log = options.log_dir / f"{port_slug(port)}.log"
    resets = options.reset and plan.after not in _NO_RESET
    asked = time.monotonic()
    held: float | None = None
    try:
        with port_lock(port, options.lock_dir, options.lock_timeout):
            held = time.monotonic()
            # The last connection resets the board; the others leave it in the bootloader.
            last_after = plan.after if resets else "no-reset"
            run_step(plan, port, options, WRITE, log,
                     after="no-reset" if options.verify else last_after)
            if options.verify:
                run_step(plan, port, options, VERIFY, log, append=True, after=last_after)
    except HardwareError as err:
        waited, duration = _timing(asked, held)
        return PortResult(port, False, str(err), log, waited=waited, duration=duration)
    waited, duration = _timing(asked, held)
    return PortResult(port, True, "", log, verified=options.verify, reset=resets,
                      waited=waited, duration=duration)


def _timing(asked: float, held: float | None) -> tuple[float, float]:
    """How long a port's flash waited for its lock, and then held it until now."""
    now = time.monotonic()
    return (now - asked, 0.0) if held is None else (held - asked, now - held)


def run_step(plan: FlashPlan, port: str, options: FlashOptions, step: str, log: Path, *,
             after: str, append: bool = False) -> None:
    """Run one esptool command (WRITE or VERIFY) on `port`; a HardwareError saying what went
    wrong if it fails."""
    if _stopping.is_set():
        raise HardwareError(f"{port}: interrupted")
    log.parent.mkdir(parents=True, exist_ok=True)
    start = log.stat().st_size if append and log.exists() else 0
    command = runner.Command(
        argv=esptool_argv(plan, port, options, step, after), cwd=log.parent, log=log,
        # Unbuffered: after a timeout the log shows how far esptool got.
        env={"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"},
        timeout=options.timeout, append=append)
    result = runner.run(command)
    if result.ok:
        return
    if result.status is runner.Status.TIMED_OUT:
        reason = (f"esptool {step} on {port} timed out after {options.timeout:g}s and was "
                  "killed; is the board stuck, or is it the wrong port?")
    elif result.status is runner.Status.INTERRUPTED:
        reason = f"esptool {step} on {port} was interrupted"
    elif result.status is runner.Status.MISSING_TOOL:
        reason = result.describe().splitlines()[0]
    else:
        with log.open("rb") as f:
            f.seek(start)
            output = f.read().decode(errors="replace")
        reason = explain(port, output, plan, options.chip)
    raise HardwareError(f"{reason} (log: {log})")


def esptool_argv(plan: FlashPlan, port: str, options: FlashOptions, step: str,
                 after: str) -> tuple[str, ...]:
    """The esptool command line of one step."""
    argv = [sys.executable, "-m", "esptool", "--chip", options.chip, "--port", port,
            "--baud", str(options.baud), "--before", plan.before, "--after", after]
    if not plan.stub:
        argv.append("--no-stub")
    # verify-flash takes the same flash settings: they patch the bootloader's header.
    return (*argv, step, *plan.write_args())


_MISSING = re.compile(r"No module named '?esptool")
_WRONG_CHIP = re.compile(r"This chip is (.+?), not (.+?)\. Wrong chip argument")
_VERIFYING = re.compile(r"Verifying 0x[0-9a-fA-F]+ \(\d+\) bytes at (0x[0-9a-fA-F]+) in flash")
_DIFFERENCES = re.compile(r"Verification failed: (\d+) differences, first at (0x[0-9a-fA-F]+)")
_OPEN = re.compile(r"Could not open .*?, the port is busy or doesn't exist\.\s*\n\((.*)\)")
_CONNECT = re.compile(r"Failed to connect to [^:]+: (.*)")
_FATAL = re.compile(r"A fatal error occurred: (.*)")


def explain(port: str, output: str, plan: FlashPlan, expected: str) -> str:
    """esptool's output of a failed command as one line a user can act on."""
    if _MISSING.search(output):
        return f"esptool is not installed for {sys.executable}: pip install esptool"
    if wrong := _WRONG_CHIP.search(output):
        found = wrong.group(1)
        name = chip_from_title(found)
        found = f"{found} ({name})" if name and name != found.lower() else found
        return f"wrong chip on {port}: found {found}, the firmware is for {expected}"
    if mismatch := verify_failure(output, plan):
        return f"verify failed on {port} at {mismatch}"
    if opened := _OPEN.search(output):
        return _open_failure(port, opened.group(1))
    if connect := _CONNECT.search(output):
        return (f"no ESP32 answering on {port} ({connect.group(1).strip().rstrip('.')}); "
                "check the cable and the port, or hold BOOT while pressing RESET")
    if fatal := _FATAL.search(output):
        return f"esptool failed on {port}: {fatal.group(1).strip()}"
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return f"esptool failed on {port}: {lines[-1] if lines else 'no output'}"


def verify_failure(output: str, plan: FlashPlan) -> str | None:
    """The first region verify-flash found different, as "0x10000: flash content differs
    from <file>", or None."""
    offset = None
    for line in output.splitlines():
        if verifying := _VERIFYING.search(line):
            offset = int(verifying.group(1), 16)
        elif line.startswith("Verification failed") and offset is not None:
            files = [f.path for f in plan.files if f.offset == offset]
            what = f" from {files[0]}" if files else ""
            detail = ""
            if differences := _DIFFERENCES.search(line):
                count, first = differences.groups()
                detail = f" ({count} bytes differ, the first at {int(first, 16):#x})"
            return f"{offset:#x}: flash content differs{what}{detail}"
    return None


def _open_failure(port: str, error: str) -> str:
    if "exclusively lock" in error or "Errno 16" in error or "busy" in error.lower():
        return (f"{port} is busy: another program has it open (a serial monitor?); "
                "close it and try again")
    if "Errno 2]" in error or "No such file" in error:
        return f"could not open {port}: no such port; is the board plugged in?"
    if "Permission denied" in error:
        return f"could not open {port}: permission denied; add your user to the dialout group"
    if "Connection refused" in error:
        return f"could not open {port}: connection refused (nothing listens there)"
    return f"could not open {port}: {error.strip()}"


def plan_summary(plan: FlashPlan) -> str:
    """E.g. "2 regions (74.2 KB) to esp32c3"."""
    size = sum(f.path.stat().st_size for f in plan.files)
    regions = f"{len(plan.files)} region{'s' if len(plan.files) != 1 else ''}"
    return f"{regions} ({format_size(size)}) to {plan.chip}"


def _parser() -> argparse.ArgumentParser:
    # Every value may be "": the toolchain's step passes `--port ""` when none was given.
    parser = argparse.ArgumentParser(prog="python -m hardware flash",
                                     description="Write a build to one or several boards.")
    parser.add_argument("--flasher-args", required=True, help="the build's flasher_args.json")
    parser.add_argument("--target", default="", help="the chip the firmware is for")
    parser.add_argument("--chip", default="", help="expected chip, if not --target")
    parser.add_argument("--port", default="", help="one serial port or pyserial URL")
    parser.add_argument("--ports", default="", help="several, comma-separated")
    parser.add_argument("--baud", type=_optional(int), help=f"default {DEFAULT_BAUD}")
    parser.add_argument("--lock-dir", type=_optional(Path), help="folder of the port locks")
    parser.add_argument("--lock-timeout", type=_optional(float),
                        help=f"seconds to wait for a busy port, default {DEFAULT_LOCK_TIMEOUT:g}")
    parser.add_argument("--log-dir", type=_optional(Path),
                        help=f"esptool logs, one per port; default {LOG_FOLDER}/ beside "
                             "flasher_args.json")
    parser.add_argument("--timeout", type=_optional(float),
                        help=f"seconds per esptool call, default {DEFAULT_TIMEOUT:g}")
    parser.add_argument("--no-verify", action="store_true", help="skip verify-flash")
    parser.add_argument("--no-reset", action="store_true", help="leave boards in the bootloader")
    return parser


def _optional(kind: Callable[[str], object]) -> Callable[[str], object]:
    """An argparse type for which "" means "not given" (None)."""
    def convert(value: str) -> object:
        if not value.strip():
            return None
        try:
            return kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a valid value: {value!r}") from None
    convert.__name__ = getattr(kind, "__name__", "value")
    return convert
