"""`doit serve`: the build service (REST API, live events, webhook, dashboard) on loopback."""

from __future__ import annotations

import ipaddress
import ssl
import sys
from pathlib import Path
from typing import Any

from doit.cmd_base import Command
from doit.exceptions import InvalidCommand

opt_host = {
    "name": "host", "short": "", "long": "host", "type": str, "default": "127.0.0.1",
    "help": "address to listen on [default: %(default)s]; anything but loopback needs "
            "--tls-cert and --tls-key (or --insecure)",
}
opt_tls_cert = {
    "name": "tls_cert", "short": "", "long": "tls-cert", "type": str, "default": "",
    "help": "PEM certificate (chain): serve HTTPS",
}
opt_tls_key = {
    "name": "tls_key", "short": "", "long": "tls-key", "type": str, "default": "",
    "help": "PEM private key of --tls-cert",
}
opt_insecure = {
    "name": "insecure", "short": "", "long": "insecure", "type": bool, "default": False,
    "help": "allow a non-loopback --host without TLS (the token then crosses the network "
            "in clear)",
}
opt_allow_host = {
    "name": "allow_host", "short": "", "long": "allow-host", "type": list, "default": [],
    "help": "a name the Host header may give (repeatable); loopback names and IP addresses "
            "are always served, other names are refused (DNS rebinding)",
}
opt_max_connections = {
    "name": "max_connections", "short": "", "long": "max-connections", "type": int,
    "default": 1000, "help": "open connections (event streams included); past it a request "
                             "gets 503 [default: %(default)s]",
}
opt_max_pending = {
    "name": "max_pending", "short": "", "long": "max-pending", "type": int, "default": 100,
    "help": "builds that may wait in the queue; past it a submission gets 429 "
            "[default: %(default)s]",
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
                "[--webhook-secret-file F] [--timeout S] [--max-pending N] [--host ADDR] " \
                "[--tls-cert PEM --tls-key PEM | --insecure] [--allow-host NAME]"
    doc_description = ("Builds registered repositories in the background with the same engine "
                       "as `doit`; every change needs the API token printed on the first "
                       "start (stored in DATA/token).")
    cmd_options = (opt_host, opt_port, opt_data, opt_workers, opt_public_reads, opt_secret,
                   opt_timeout, opt_max_pending, opt_max_connections, opt_tls_cert,
                   opt_tls_key, opt_insecure, opt_allow_host)

    def execute(self, params: Any, args: list[str]) -> int:
        """Start the service and serve until interrupted."""
        if args:
            raise InvalidCommand(f"`doit serve` takes no arguments, got {' '.join(args)}")
        try:
            import uvicorn  # noqa: F401

            from service.api import create_app
            from service.config import (
                ServiceConfig,
                default_data,
                ensure_token,
                lock_data,
                make_private,
                read_secret,
                setup_logging,
            )
            from service.server import port_free, serve
        except ImportError as err:
            raise InvalidCommand(f"`doit serve` needs the service extra ({err.name} is "
                                 "missing): pip install '.[service]' in the checkout") from None
        _check_numbers(params)
        tls = _tls(params)
        data = Path(params["data"]).expanduser() if params["data"] else default_data()
        busy = port_free(params["host"], params["port"])
        if busy is not None:  # before the banner, the token or the data folder
            raise InvalidCommand(busy)
        try:
            secret = read_secret(Path(params["webhook_secret_file"])
                                 if params["webhook_secret_file"] else None)
            config = ServiceConfig(
                data=data.resolve(), host=params["host"], port=params["port"],
                workers=params["workers"], public_reads=params["public_reads"],
                webhook_secret=secret, timeout=params["timeout"],
                allowed_hosts=frozenset(h.lower().rstrip(".") for h in params["allow_host"]),
                max_pending=params["max_pending"], connections=params["max_connections"],
                tls_cert=tls[0], tls_key=tls[1])
            held = lock_data(config)
            token, created = ensure_token(config)
            setup_logging(config)
            make_private(config)
        except (ValueError, OSError) as err:
            raise InvalidCommand(str(err)) from None
        self._announce(config, token, created)
        try:
            serve(create_app(config, token), config)
        finally:
            held.close()
        return 0

    def _announce(self, config: Any, token: str, created: bool) -> None:
        out = sys.stdout
        if not _loopback(config.host):
            out.write(f"fedbuild serve: WARNING: listening on {config.host}, not loopback: "
                      "anyone who can reach it and has the token can run builds\n")
        scheme = "https" if config.tls_cert else "http"
        url = f"{scheme}://{_url_host(config.host)}:{config.port}/"
        if created:
            out.write(f"fedbuild serve: API token (stored in {config.token_file}): {token}\n")
            out.write(f"fedbuild serve: {url} (dashboard: {url}#token={token})\n")
        else:
            out.write(f"fedbuild serve: {url} (dashboard), API token in {config.token_file}\n")
        out.write(f"fedbuild serve: data in {config.data}; {config.workers} builds at a time; "
                  f"webhook {'on' if config.webhook_secret else 'off (no secret)'}; reads "
                  f"{'public' if config.public_reads else 'need the token'}\n")
        out.flush()


def _check_numbers(params: Any) -> None:
    if params["workers"] < 1 or not 0 < params["port"] < 65536 or params["timeout"] <= 0 \
            or params["max_pending"] < 1 or params["max_connections"] < 2:
        raise InvalidCommand("--workers must be at least 1, --port 1-65535, --timeout > 0, "
                             "--max-pending at least 1, --max-connections at least 2")


def _tls(params: Any) -> tuple[Path | None, Path | None]:
    """The certificate and key, both readable; refuses a non-loopback host without them
    unless --insecure."""
    cert, key = params["tls_cert"], params["tls_key"]
    if bool(cert) != bool(key):
        raise InvalidCommand("--tls-cert and --tls-key go together: give both")
    for name, value in (("--tls-cert", cert), ("--tls-key", key)):
        if value and not Path(value).is_file():
            raise InvalidCommand(f"{name} {value}: no such file")
    if not cert and not _loopback(params["host"]) and not params["insecure"]:
        raise InvalidCommand(f"--host {params['host']} is not loopback: give --tls-cert and "
                             "--tls-key (or --insecure to send the token in clear)")
    if cert:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as err:
            raise InvalidCommand(f"--tls-cert {cert} / --tls-key {key} cannot be used "
                                 f"({err}); give a PEM certificate and its key") from None
        return Path(cert).resolve(), Path(key).resolve()
    return None, None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
