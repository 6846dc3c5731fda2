"""ESP32 boards for tests, as far as they run here: esp32-mock-bootloader serves the ROM
bootloader's protocol on a loopback TCP port, and real esptool flashes and reads it through
`socket://127.0.0.1:PORT`.

    with mock_board(tmp_path, "esp32c3") as board:   # board.url, board.process
        ...                                          # the mock keeps its flash between
        data = read_flash(board, 0x0, 0x20000)       # connections, until the block ends

Each mock runs in its own process group and is stopped at the end of the block. A
firmware is random bytes in flasher_args.json's layout, written as an ESP-IDF build would.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hardware.flasher_args import FlashFile, FlashPlan, write_flasher_args
from tests.conftest import REPO, eventually
from tests.servers import HOST, stop_process

START_TIMEOUT = 10.0
# The mock has no `python -m` entry point; its console script may be a pyenv shim.
_MOCK_MAIN = "import sys; from esp32_mock_bootloader.cli import main; sys.exit(main())"
# Bootloader and app, each over 32 KiB (the mock's stub fails shorter reads).
_LISTENING = re.compile(rf"listening on {re.escape(HOST)}:(\d+)\n")
REGIONS = {0x0: 40_000, 0x10000: 65_536}


@dataclass(frozen=True)
class MockBoard:
    """A mock bootloader listening on 127.0.0.1:port."""

    port: int
    chip: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        """Its pyserial URL, which esptool and `python -m hardware flash` take as a port."""
        return f"socket://{HOST}:{self.port}"


@contextmanager
def mock_board(folder: Path, chip: str = "esp32c3") -> Iterator[MockBoard]:
    """A mock board of `chip`, its output logged in `folder`, until the block ends.

    The mock binds a port the kernel picks (--port 0) and says which: a port picked here and
    bound by the mock later could be taken in between (and the mock, refused a port, quietly
    binds another)."""
    log = _new_log(folder, f"mock-{chip}-")
    argv = [sys.executable, "-c", _MOCK_MAIN, "run", "--chip", chip, "--bind", HOST,
            "--port", "0"]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        if not eventually(lambda: _port_said(log) is not None or process.poll() is not None,
                          START_TIMEOUT) or process.poll() is not None:
            raise RuntimeError(f"esp32-mock-bootloader did not start: {log.read_text()}")
        port = _port_said(log)
        assert port is not None
        yield MockBoard(port, chip, process, log)
    finally:
        stop_process(process)


def _new_log(folder: Path, prefix: str) -> Path:
    """A new, empty log file in `folder` whose name starts with `prefix`."""
    handle, name = tempfile.mkstemp(prefix=prefix, suffix=".log", dir=folder)
    os.close(handle)
    return Path(name)


def _port_said(log: Path) -> int | None:
    """The port the mock says it listens on (its first line, printed once it listens)."""
    found = _LISTENING.search(log.read_text(errors="replace"))
    return int(found[1]) if found else None


def write_firmware(folder: Path, chip: str = "esp32c3",
                   regions: dict[int, int] | None = None) -> Path:
    """Random images at REGIONS' offsets and their flasher_args.json in `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for offset, size in (regions or REGIONS).items():
        name = "bootloader.bin" if offset < 0x8000 else f"app-{offset:x}.bin"
        path = folder / name
        path.write_bytes(os.urandom(size))
        files.append(FlashFile(offset, path))
    return write_flasher_args(folder, FlashPlan(chip=chip, files=tuple(files)))


def read_flash(board: MockBoard, offset: int, size: int, out: Path) -> bytes:
    """The board's flash from `offset`, read by real esptool in a new connection."""
    # --no-stub: the mock's stub fails some reads (under 32 KiB, and 128 KiB at once).
    argv = [sys.executable, "-m", "esptool", "--port", board.url, "--no-stub",
            "--after", "no-reset", "read-flash", hex(offset), str(size), str(out)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return out.read_bytes()


def flash_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m hardware flash ARGS` from the repository root, as a firmware step runs it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "hardware", "flash", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


@contextmanager
def board_running(folder: Path, elf: Path, chip: str = "esp32c3") -> Iterator[str]:
    """A whole board on a loopback port, for `doit test:<module>`: esptool's connections (they
    speak first, the ROM protocol's SYNC) go to a ROM bootloader mock, which keeps what is
    flashed; a connection that stays silent (the test reader) gets the serial output of
    `elf` running in QEMU's RISC-V virt board, as if the board had booted the firmware just
    flashed. A stand-in for the physical board these machines do not have: the flashing,
    the serial reading and the firmware's output are each real. Which is which is told by
    the program at the other end of the connection, not by how soon it speaks. Yields its
    socket:// URL."""
    with mock_board(folder, chip) as rom, socket.create_server((HOST, 0)) as front:
        stopping = threading.Event()
        children: list[subprocess.Popen[bytes]] = []

        def serve(client: socket.socket) -> None:
            with client:
                program = _program_at_the_other_end(client)
                if program is None:
                    return  # gone already
                if "esptool" in program:  # relay to the ROM mock
                    upstream = socket.create_connection((HOST, rom.port))
                else:  # the test reader: the firmware's console, from QEMU
                    upstream = _qemu_console(folder, elf, children)
                with upstream:
                    _relay(client, upstream, stopping)

        def accept() -> None:
            front.settimeout(0.2)
            while not stopping.is_set():
                try:
                    client, _ = front.accept()
                except OSError:
                    continue
                threading.Thread(target=serve, args=(client,), daemon=True).start()

        acceptor = threading.Thread(target=accept, daemon=True)
        acceptor.start()
        try:
            yield f"socket://{HOST}:{front.getsockname()[1]}"
        finally:
            stopping.set()
            acceptor.join(5)
            for child in children:
                stop_process(child)


def _program_at_the_other_end(client: socket.socket) -> list[str] | None:
    """The command line of the process holding the client end of an accepted loopback
    connection (found by its address among this machine's sockets); None once it is gone."""
    import psutil

    try:
        peer, ours = client.getpeername()[:2], client.getsockname()[:2]
    except OSError:
        return None
    for conn in psutil.net_connections(kind="tcp"):
        if conn.pid and conn.laddr and conn.raddr and tuple(conn.laddr) == peer \
                and tuple(conn.raddr) == ours:
            try:
                return psutil.Process(conn.pid).cmdline()
            except psutil.Error:
                return None
    return None


def _qemu_console(folder: Path, elf: Path, children: list[subprocess.Popen[bytes]]
                  ) -> socket.socket:
    """QEMU running `elf`, its serial port on a loopback port the kernel picks (a port picked
    here could be taken before QEMU binds it), connected to."""
    argv = ["qemu-system-riscv32", "-M", "virt", "-bios", "none", "-nographic", "-monitor",
            "none", "-serial", f"tcp:{HOST}:0,server=on,wait=on", "-kernel", str(elf)]
    log = _new_log(folder, "qemu-")
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    children.append(process)
    port = _listening_port(process)
    if port is None:
        raise RuntimeError(f"QEMU did not open its serial port: {log.read_text()[-2000:]}")
    return socket.create_connection((HOST, port), timeout=START_TIMEOUT)


def _listening_port(process: subprocess.Popen[bytes]) -> int | None:
    """The port `process` listens on, once it does; None if it exits or time runs out."""
    import psutil

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(psutil.Error):  # exiting: poll() says so next time round
            for conn in psutil.Process(process.pid).net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    return int(conn.laddr.port)
        time.sleep(0.02)
    return None


def _relay(one: socket.socket, other: socket.socket, stopping: threading.Event) -> None:
    """Copy bytes both ways until either side closes."""
    pair = {one: other, other: one}
    while not stopping.is_set():
        ready, _, _ = select.select(list(pair), [], [], 0.2)
        for sock in ready:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            pair[sock].sendall(data)
