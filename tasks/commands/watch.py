"""`doit watch [TASK...] [select=...] [serve=true] [--port N]` and `doit preview`: the edit,
build, look loop.

It builds once, then again after each burst of saves to the files the build reads
(tasks/watch.py, tasks/watch_set.py): each build is a plain `doit run` of the same tasks
and variables, recorded in the run history with trigger `watch`. With `serve=true` (what
`doit preview` is) the published tree is served on http://127.0.0.1:PORT/ (1313, or the
next free port) and its pages reload themselves when their module is republished
(tasks/live_preview.py). Ctrl-C stops the build running, the server and the watch.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from doit.exceptions import InvalidCommand

from core.errors import COMMAND_LINE, UsageError
from tasks.commands.base import FedbuildCommand
from tasks.doit_compat import command_line_variables
from tasks.live_preview import DEFAULT_PORT, PreviewServer, Published, open_server
from tasks.session import INTERRUPTED
from tasks.watch import Builder, Outcome, Watch, rebuild_args
from tasks.watch_set import WatchSet, watch_set

SERVE = "serve"  # the watch's own variable, not handed to its builds
INTERRUPTED_CODE, TERMINATED_CODE = 130, 143

opt_port = {"name": "port", "short": "", "long": "port", "type": int, "default": DEFAULT_PORT,
            "help": "the preview's port on 127.0.0.1, or the next free one [default: %(default)s]"}
opt_workers = {"name": "num_process", "short": "n", "long": "process", "type": int,
               "default": 0, "help": "each build's number of workers (doit run -n)"}


class _Terminated(Exception):
    """SIGTERM arrived: stop as on Ctrl-C."""


class WatchCommand(FedbuildCommand):
    """`doit watch`."""

    name = "watch"
    serve_default = False
    doc_purpose = "build, then rebuild what each save changes (serve=true: preview it live)"
    doc_usage = "[TASK ...] [select=...] [serve=true] [--port 1313] [-n N]"
    doc_description = ("Builds once, then after each burst of saves rebuilds the tasks whose "
                       "inputs changed (a plain `doit run`, trigger `watch` in the history). "
                       "serve=true serves the published tree on 127.0.0.1 with live reload.")
    cmd_options = (opt_workers, opt_port)

    def execute(self, params: Any, args: list[str]) -> Any:
        """Note where doit started and its dodo file before the loader moves to the
        repository: each build starts the same way."""
        self.started_in = Path.cwd()
        dodo = params.get("dodoFile")
        self.dodo = str(self.started_in / dodo) if isinstance(dodo, str) and dodo else None
        return super().execute(params, args)

    def _execute(self, num_process: int = 0, port: int = DEFAULT_PORT,
                 pos_args: list[str] | None = None) -> int:
        """Build, watch, rebuild; serve the published tree when asked."""
        if self.dep_manager is not None:
            self.dep_manager.close()  # each build opens doit's database itself
        _need_watchfiles()
        tasks = list(pos_args or [])
        variables = command_line_variables()
        serve = self._serve(variables.pop(SERVE, None))
        if not 0 < port < 65536:
            raise UsageError(COMMAND_LINE, "--port", f"{port} is not a port number; "
                             "e.g. --port 1313")
        root = Path.cwd()
        unknown = [t for t in tasks if not any(t == task.name for task in self.task_list)]
        if unknown:
            raise InvalidCommand(f"`doit watch`: no task {unknown[0]!r} (see `doit list`)")

        def refresh() -> WatchSet:
            return watch_set(root, tasks, variables.get("select"),
                             variables.get("mode", "development"))

        args = rebuild_args(self.dodo, root, tasks, num_process, variables)
        builder = Builder(args, self.started_in, root, sys.stdout)
        current = refresh()
        server = self._open(current, port) if serve else None
        watch = Watch(builder, current, refresh, self._after(server), sys.stdout)
        return _run(watch, server)

    def _serve(self, value: str | None) -> bool:
        if value is None:
            return self.serve_default
        if value.lower() in ("true", "1", "yes", "on"):
            return True
        if value.lower() in ("false", "0", "no", "off"):
            return False
        raise UsageError(COMMAND_LINE, SERVE, f"{value!r} is not true or false; "
                         "e.g. serve=true")

    def _open(self, current: WatchSet, port: int) -> PreviewServer:
        try:
            server = open_server(Published(current.published), port)
        except OSError as err:
            raise UsageError(COMMAND_LINE, "--port", f"cannot serve on 127.0.0.1:{port}: "
                             f"{err.strerror or err}; give another, e.g. --port 8313") from None
        server.serve()
        print(f"fedbuild watch: serving {current.published.name}/ at {server.url} "
              "(pages reload when their module is republished)", flush=True)
        return server

    @staticmethod
    def _after(server: PreviewServer | None) -> Any:
        def after(outcome: Outcome) -> None:
            if server is not None:
                server.published.update(outcome.failures)
        return after


class PreviewCommand(WatchCommand):
    """`doit preview`: `doit watch serve=true`."""

    name = "preview"
    serve_default = True
    doc_purpose = "serve the published site with live reload, rebuilding on each save"
    doc_usage = "[TASK ...] [select=...] [--port 1313] [-n N]"


def _need_watchfiles() -> None:
    try:
        import watchfiles  # noqa: F401 (its absence is said in one line here, not later)
    except ImportError:
        raise InvalidCommand("`doit watch` needs watchfiles: pip install 'fedbuild[watch]' "
                             "(or pip install watchfiles)") from None


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise _Terminated()


def _run(watch: Watch, server: PreviewServer | None) -> int:
    """Run the watch until Ctrl-C (130) or SIGTERM (143); then stop everything it began."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    code = INTERRUPTED_CODE
    try:
        watch.run()
    except KeyboardInterrupt:
        pass
    except _Terminated:
        code = TERMINATED_CODE
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        watch.stop()
        if server is not None:
            server.stop()
        signal.signal(signal.SIGTERM, previous)
    sys.stdout.flush()
    sys.stderr.write(INTERRUPTED)
    return code
