"""The service's settings, its data folder and its API token."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from core.confine import remove_tree

DATA_ENV = "FEDBUILD_SERVICE_DATA"
SECRET_ENV = "FEDBUILD_WEBHOOK_SECRET"
LOGGER = "fedbuild.service"
# The folder holding dodo.py and pyproject.toml: builds run doit from there.
FEDBUILD_ROOT = Path(__file__).resolve().parents[1]


def default_data() -> Path:
    """$FEDBUILD_SERVICE_DATA, else ~/.local/share/fedbuild."""
    chosen = os.environ.get(DATA_ENV)
    return Path(chosen) if chosen else Path.home() / ".local" / "share" / "fedbuild"


@dataclass(frozen=True)
class ServiceConfig:
    """Everything `doit serve` was told; paths below `data` are where it keeps its state."""

    data: Path
    host: str = "127.0.0.1"
    port: int = 8765
    workers: int = 2
    public_reads: bool = False
    webhook_secret: str | None = None
    timeout: float = 3600.0  # one build's limit, seconds
    allowed_hosts: frozenset[str] = frozenset()  # names the Host header may give, beyond
    # loopback names and IP addresses
    max_pending: int = 100  # builds waiting in the queue; past it a submission gets 429
    connections: int = 1000  # open connections; past it a request gets 503
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def db(self) -> Path:
        """The build records."""
        return self.data / "service.sqlite"

    @property
    def token_file(self) -> Path:
        """The API token, readable by its owner only."""
        return self.data / "token"

    def build_dir(self, build_id: int) -> Path:
        """A build's output log and event stream."""
        return self.data / "builds" / str(build_id)

    def worktree(self, build_id: int) -> Path:
        """Where a build of a given commit checks it out."""
        return self.data / "worktrees" / str(build_id)

    def artifacts(self, build_id: int) -> Path:
        """What a worktree build leaves: its dist/<mode>/, published tree and run files."""
        return self.data / "artifacts" / str(build_id)

    def clone(self, project_id: str) -> Path:
        """The clone of a project registered by git URL."""
        return self.data / "repos" / project_id

    def is_clone(self, path: str | Path) -> bool:
        """Whether a project's folder is a clone the service made (and may fetch into)."""
        return Path(path).parent == self.data / "repos"

    def remove(self, path: Path) -> None:
        """Remove a file or folder of the service's own (never anything outside `data`)."""
        remove_tree(path, self.data, ignore_errors=True)

    def marker(self, build_id: int) -> str:
        """The value of FEDBUILD_SERVICE_BUILD in a build's processes: unique per data folder,
        so two services never kill each other's builds."""
        return f"{build_id}@{self.data}"


def read_secret(file: Path | None) -> str | None:
    """The webhook secret: the file's content (without its final newline), else the
    environment's; None when neither is set. An unreadable or empty file is a ValueError."""
    if file is None:
        return os.environ.get(SECRET_ENV) or None
    try:
        text = file.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ValueError(f"webhook secret file {file} cannot be read ({err.strerror})") from None
    if not text:
        raise ValueError(f"webhook secret file {file} is empty; put the secret in it")
    return text


def make_private(config: ServiceConfig) -> None:
    """The data folder 0700 and the service's own files in it 0600, whatever the umask
    was when they were made (a folder made by an older version keeps its mode otherwise)."""
    config.data.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(config.data, 0o700)
    for name in ("service.sqlite", "service.sqlite-wal", "service.sqlite-shm", "service.log",
                 "service.lock", "token"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(config.data / name, 0o600)


def private_file(path: Path) -> None:
    """Create path (if missing) readable and writable by its owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    os.chmod(path, 0o600)


def ensure_token(config: ServiceConfig) -> tuple[str, bool]:
    """The API token and whether it was created now (0600, on the first start)."""
    config.data.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = config.token_file
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token, False
        raise ValueError(f"{path} is empty; delete it to have a new token made") from None
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token, True


def lock_data(config: ServiceConfig) -> IO[str]:
    """Hold the data folder for this process (until the returned file is closed or the
    process ends): a second service on it would take its builds for interrupted ones."""
    make_private(config)
    private_file(config.data / "service.lock")
    held = (config.data / "service.lock").open("a+", encoding="utf-8")
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        held.seek(0)
        owner = held.read().strip() or "?"
        held.close()
        raise ValueError(f"another `doit serve` (pid {owner}) uses {config.data}; stop it or "
                         "give this one another --data folder") from None
    held.seek(0)
    held.truncate()
    held.write(f"{os.getpid()}\n")
    held.flush()
    return held


def setup_logging(config: ServiceConfig) -> logging.Logger:
    """The service's log: one line per event to stderr and to <data>/service.log."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        config.data.mkdir(mode=0o700, parents=True, exist_ok=True)
        private_file(config.data / "service.log")
        to_file = logging.FileHandler(config.data / "service.log", encoding="utf-8")
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        to_err = logging.StreamHandler()
        to_err.setFormatter(logging.Formatter("fedbuild serve: %(message)s"))
        logger.addHandler(to_file)
        logger.addHandler(to_err)
        logger.propagate = False
    return logger
