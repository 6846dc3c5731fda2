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

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hardware.flasher_args import FlashFile, FlashPlan, write_flasher_args
from tests.conftest import REPO, eventually
from tests.servers import HOST, free_port, stop_process

START_TIMEOUT = 10.0
# The mock has no `python -m` entry point; its console script may be a pyenv shim.
_MOCK_MAIN = "import sys; from esp32_mock_bootloader.cli import main; sys.exit(main())"
# Bootloader and app, each over 32 KiB (the mock's stub fails shorter reads).
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
    """A mock board of `chip`, its output logged in `folder`, until the block ends."""
    port = free_port()
    log = folder / f"mock-{chip}-{port}.log"
    argv = [sys.executable, "-c", _MOCK_MAIN, "run", "--chip", chip, "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        if not eventually(lambda: _listening(port) or process.poll() is not None,
                          START_TIMEOUT) or process.poll() is not None:
            raise RuntimeError(f"esp32-mock-bootloader did not start: {log.read_text()}")
        yield MockBoard(port, chip, process, log)
    finally:
        stop_process(process)


def _listening(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=0.5).close()
    except OSError:
        return False
    return True


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
