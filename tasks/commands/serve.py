"""`doit serve`: the build service (REST API, live events, webhook, dashboard) on loopback."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import Any

from doit.cmd_base import Command
from doit.exceptions import InvalidCommand

opt_host = {
    "name": "host", "short": "", "long": "host", "type": str, "default": "127.0.0.1",
    "help": "address to listen on [default: %(default)s]; anything but loopback exposes the "
            "service to the network",
}
opt_port = {
    "name": "port", "short": "", "long": "port", "type": int, "default": 8765,
    "help": "TCP port [default: %(default)s]",
}
opt_data = {
    "name": "data", "short": "", "long": "data", "type": str, "default": "",
    "help": "folder for the database, token, logs, worktrees and artifacts "
            "[default: $FEDBUILD_SERVICE_DATA or ~/.local/share/fedbuild]",
}
opt_workers = {
    "name": "workers", "short": "", "long": "workers", "type": int, "default": 2,
    "help": "builds run at once, at most one per project [default: %(default)s]",
}
opt_public_reads = {
    "name": "public_reads", "short": "", "long": "public-reads", "type": bool,
    "default": False, "help": "let reads (GET, event streams) through without the token",
}
opt_secret = {
    "name": "webhook_secret_file", "short": "", "long": "webhook-secret-file", "type": str,
    "default": "", "help": "file holding the GitHub webhook secret [default: "
                           "$FEDBUILD_WEBHOOK_SECRET; without one the webhook answers 503]",
}
opt_timeout = {
    "name": "timeout", "short": "", "long": "timeout", "type": float, "default": 3600.0,
    "help": "seconds a build may run before it is killed [default: %(default)s]",
}


class ServeCommand(Command):
    """`doit serve`: needs no dodo.py (a plain doit Command loads no tasks)."""

    name = "serve"
    doc_purpose = "run the build service: REST API, live events, webhook and dashboard"
    doc_usage = "[--port P] [--data DIR] [--workers N] [--public-reads] " \
                "[--webhook-secret-file F] [--timeout S] [--host ADDR]"
    doc_description = ("Builds registered repositories in the background with the same engine "
                       "as `doit`; every change needs the API token printed on the first "
                       "start (stored in DATA/token).")
    cmd_options = (opt_host, opt_port, opt_data, opt_workers, opt_public_reads, opt_secret,
                   opt_timeout)

    def execute(self, params: Any, args: list[str]) -> int:
        """Start the service and serve until interrupted."""
        if args:
            raise InvalidCommand(f"`doit serve` takes no arguments, got {' '.join(args)}")
        try:
            import uvicorn

            from service.api import create_app
            from service.config import (
                ServiceConfig,
                default_data,
                ensure_token,
                lock_data,
                read_secret,
                setup_logging,
            )
        except ImportError as err:
            raise InvalidCommand(f"`doit serve` needs the service extra ({err.name} is "
                                 "missing): pip install '.[service]' in the checkout") from None
        if params["workers"] < 1 or not 0 < params["port"] < 65536 or params["timeout"] <= 0:
            raise InvalidCommand("--workers must be at least 1, --port 1-65535, --timeout > 0")
        data = Path(params["data"]).expanduser() if params["data"] else default_data()
        try:
            secret = read_secret(Path(params["webhook_secret_file"])
                                 if params["webhook_secret_file"] else None)
            config = ServiceConfig(data=data.resolve(), host=params["host"],
                                   port=params["port"], workers=params["workers"],
                                   public_reads=params["public_reads"], webhook_secret=secret,
                                   timeout=params["timeout"])
            held = lock_data(config)
            token, created = ensure_token(config)
        except (ValueError, OSError) as err:
            raise InvalidCommand(str(err)) from None
        setup_logging(config)
        self._announce(config, token, created)
        try:
            uvicorn.run(create_app(config, token), host=config.host, port=config.port,
                        log_level="warning", timeout_graceful_shutdown=5)
        finally:
            held.close()
        return 0

    def _announce(self, config: Any, token: str, created: bool) -> None:
        out = sys.stdout
        if not _loopback(config.host):
            out.write(f"fedbuild serve: WARNING: listening on {config.host}, not loopback: "
                      "anyone who can reach it and has the token can run builds\n")
        url = f"http://{_url_host(config.host)}:{config.port}/"
        if created:
            out.write(f"fedbuild serve: API token (stored in {config.token_file}): {token}\n")
            out.write(f"fedbuild serve: {url} (dashboard: {url}#token={token})\n")
        else:
            out.write(f"fedbuild serve: {url} (dashboard), API token in {config.token_file}\n")
        out.write(f"fedbuild serve: data in {config.data}; {config.workers} builds at a time; "
                  f"webhook {'on' if config.webhook_secret else 'off (no secret)'}; reads "
                  f"{'public' if config.public_reads else 'need the token'}\n")
        out.flush()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
