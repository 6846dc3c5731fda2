"""`python -m hardware qemu`: run firmware in QEMU and read its Unity output like a board's.

QEMU's serial port listens on a loopback TCP port (picked by the kernel: `tcp:...:0`) and,
with wait=on, starts the guest only once the reader has connected, so nothing is lost.
Debian's QEMU runs `-M virt` ELFs (hardware/image.py's virt board); Espressif's fork adds
a machine per chip for some chips (their `qemu` in core/chips.py: binary and options),
which boot a merged flash image. No port lock is taken: QEMU shares no hardware with anyone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from core.chips import QEMU_MACHINES
from core.errors import HardwareError
from core.runner import Command, Process, run, start
from hardware.device_test import (
    DEFAULT_TIMEOUT,
    add_report_options,
    conclude,
    or_default,
    print_case,
    suite_name,
)
from hardware.unity import TestCase, UnityReport

START_TIMEOUT = 10.0  # for QEMU to start listening
STOP_GRACE = 2.0  # after SIGTERM to QEMU's tree, before SIGKILL
ESPRESSIF_QEMU = "https://github.com/espressif/qemu/releases"
# Espressif's machines: the binary, and the options ESP-IDF's `idf.py qemu` adds.
ESP_MACHINES = QEMU_MACHINES


def main(argv: list[str]) -> int:
    """Run the kernel or image in QEMU, report its Unity run; 0 if it passed."""
    args = parser().parse_args(argv)
    kernel = Path(args.kernel) if args.kernel else None
    image = Path(args.image) if args.image else None
    elf = Path(args.elf) if args.elf else kernel
    target = kernel or image
    print(f"running {target} in QEMU -M {args.machine} (timeout {args.timeout:g}s)",
          flush=True)
    report = run_in_qemu(kernel, args.machine, args.timeout, image=image, elf=elf,
                         qemu=args.qemu or None, on_case=print_case)
    junit = Path(args.junit) if args.junit else None
    return conclude(report, junit, args.suite or suite_name(elf))


def parser() -> argparse.ArgumentParser:
    """The command line; an empty value ("") means the option was not given."""
    p = argparse.ArgumentParser(prog="python -m hardware qemu", description=__doc__)
    p.add_argument("--kernel", default="", help="ELF to run with -kernel (-M virt)")
    p.add_argument("--image", default="", help="merged flash image (Espressif's machines)")
    p.add_argument("--machine", type=or_default(str, "virt"), default="virt")
    p.add_argument("--timeout", type=or_default(float, DEFAULT_TIMEOUT),
                   default=DEFAULT_TIMEOUT, help="seconds to wait for the summary")
    p.add_argument("--qemu", default="", help="the QEMU binary (default: by machine)")
    add_report_options(p)
    return p


def run_in_qemu(kernel: Path | None, machine: str = "virt", timeout: float = DEFAULT_TIMEOUT,
                *, image: Path | None = None, elf: Path | None = None,
                qemu: str | None = None,
                on_case: Callable[[TestCase], None] | None = None) -> UnityReport:
    """Start QEMU on `kernel` (or flash `image`), read its Unity output through a loopback
    socket as from a board, and kill QEMU's process group whatever happens."""
    from hardware.monitor import read_unity

    argv = qemu_argv(kernel, machine, image, qemu)
    with tempfile.TemporaryDirectory(prefix="fedbuild-qemu-") as tmp:
        log = Path(tmp, "qemu.log")
        command = Command(tuple(argv), cwd=Path.cwd(), log=log, kill_grace=STOP_GRACE)
        try:
            process = start(command)
        except OSError as e:
            raise HardwareError(f"{argv[0]} could not start: {e.strerror or e}") from None
        with process:  # killed, tree and group, whatever happens
            port = _listening_port(process, argv[0], log)
            report = read_unity(f"socket://127.0.0.1:{port}", timeout=timeout, reset=False,
                                elf=elf if elf is not None else kernel, on_case=on_case)
            exited = process.poll()
        # The socket's port means nothing to a reader of the report: name the program run.
        report.source = f"QEMU -M {machine} running {(kernel or image or Path('?')).name}"
        if exited is not None and report.summary is None and report.crash is None:
            report.notes.append(f"{argv[0]} exited with code {exited}{_tail(log)}")
    return report


def qemu_argv(kernel: Path | None, machine: str, image: Path | None,
              qemu: str | None) -> list[str]:
    """QEMU's command line; a HardwareError when the inputs do not fit the machine."""
    serial = ["-nographic", "-monitor", "none",
              "-serial", "tcp:127.0.0.1:0,server=on,wait=on"]
    if machine in ESP_MACHINES:
        binary, extra = ESP_MACHINES[machine]
        binary = qemu or binary
        if image is None:
            raise HardwareError(f"-M {machine} boots from flash: give --image merged.bin")
        _require_machine(binary, machine)
        return [binary, "-M", machine, *extra, *serial,
                "-drive", f"file={image},if=mtd,format=raw"]
    if kernel is None:
        raise HardwareError(f"give --kernel ELF for -M {machine} (--image is for "
                            f"Espressif's machines: {', '.join(ESP_MACHINES)})")
    if not kernel.is_file():
        raise HardwareError(f"--kernel {kernel} does not exist; build it first")
    return [qemu or "qemu-system-riscv32", "-M", machine, "-bios", "none", *serial,
            "-kernel", str(kernel)]


def has_machine(binary: str, machine: str) -> bool:
    """Whether `binary -M help` lists `machine` (False if the binary is missing)."""
    with tempfile.TemporaryDirectory(prefix="fedbuild-qemu-") as tmp:
        log = Path(tmp, "machines.log")
        result = run(Command((binary, "-M", "help"), cwd=Path(tmp), log=log, timeout=30.0))
        names = {line.split()[0] for line in log.read_text(errors="replace").splitlines()
                 if line.strip() and not line.startswith(("$ ", "Supported"))}
    return result.ok and machine in names


def _require_machine(binary: str, machine: str) -> None:
    if not has_machine(binary, machine):
        raise HardwareError(f"{binary} has no machine '{machine}': it is in Espressif's QEMU "
                            f"fork ({ESPRESSIF_QEMU}), not in Debian's; install it and put "
                            f"it on PATH or give --qemu PATH")


def _listening_port(process: Process, name: str, log: Path) -> int:
    """The loopback port QEMU listens on for the serial port, once it does."""
    import psutil

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HardwareError(f"{name} exited with code {process.returncode} before "
                                f"starting{_tail(log)}")
        try:
            for conn in psutil.Process(process.pid).net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    return int(conn.laddr.port)
        except psutil.Error:
            pass  # exiting: poll() says so next time round
        time.sleep(0.02)
    raise HardwareError(f"QEMU did not open its serial port within {START_TIMEOUT:g}s"
                        f"{_tail(log)}")


def _tail(log: Path, count: int = 2) -> str:
    """QEMU's last lines, as ": <line> | <line>", or "" when it said nothing."""
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines()
                 if line.strip() and "QEMU waiting for connection" not in line]
    except OSError:
        return ""
    return f": {' | '.join(line.strip() for line in lines[-count:])}" if lines else ""
