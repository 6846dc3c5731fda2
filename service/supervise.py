"""The parent of one build's doit process, so that nothing the build starts outlives it.

    python -m service.supervise --parent PID [--cgroup DIR] [--events SOCKET] -- ARGV...

- It dies with the service: PR_SET_PDEATHSIG delivers SIGTERM when the service goes (even
  by SIGKILL), and SIGTERM kills the whole build.
- doit is started by core.runner (its own session, the run's mark, the runner's kill);
  the build's processes are its descendants.
- It is a child subreaper (PR_SET_CHILD_SUBREAPER): whatever the build orphans is
  re-parented here, not to PID 1, so it stays in this process's tree.
- The build runs in its own cgroup when one is given (service.tree makes it).
- The event channel is a connection to the service's socket (service.channel), made
  before doit starts and handed to doit only (FEDBUILD_EVENTS=fd:N): steps get no copy of
  it (the runner closes every descriptor), no path in their environment, and a socket
  cannot be reopened through /proc/<doit>/fd.
When doit ends, whatever it left behind is killed; the exit code is doit's (143 when the
build was killed by a signal to this process).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

from core.runner import Command, Process, start
from service.tree import kill_cgroup, kill_tree, remove_cgroup

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
EVENTS_ENV = "FEDBUILD_EVENTS"
KILLED = 143  # 128 + SIGTERM, as a shell reports it
CONNECT_TIMEOUT = 10.0


def prctl(option: int, value: int) -> bool:
    """Call prctl(2); False where it is missing or refused (not Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def connect(address: str) -> int | None:
    """A descriptor connected to the service's event socket (None, said on stderr, if it
    cannot be: the build runs without live events)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        sock.connect(address)
    except OSError as err:
        sock.close()
        print(f"fedbuild: no live events: cannot connect to {address} ({err})",
              file=sys.stderr)
        return None
    sock.setblocking(True)
    return sock.detach()


class Supervisor:
    """Runs argv as its child and kills everything under it at the end."""

    def __init__(self, argv: list[str], cgroup: Path | None, events: str | None) -> None:
        self.argv, self.cgroup, self.events = argv, cgroup, events
        self.stopping = False

    def run(self) -> int:
        """Start the child, reap every process re-parented here, return the child's code."""
        env: dict[str, str] = {}
        fds: tuple[int, ...] = ()
        if self.events is not None and (fd := connect(self.events)) is not None:
            env[EVENTS_ENV] = f"fd:{fd}"
            fds = (fd,)
        if self.cgroup is not None:
            self.cgroup.mkdir(parents=True, exist_ok=True)
        # The output goes to this process's own stdout (the build's output file), not to a
        # log of its own: the Command's log is not written.
        command = Command(tuple(self.argv), cwd=Path.cwd(), log=Path(os.devnull), env=env)
        try:
            child = start(command, output=sys.stdout.fileno(), pass_fds=fds,
                          cgroup=self.cgroup)
        finally:
            for fd in fds:
                os.close(fd)
        code = self._reap(child)
        self.kill_all()
        if self.cgroup is not None:
            remove_cgroup(self.cgroup)
        return KILLED if self.stopping else code

    def kill_all(self) -> None:
        """Kill the cgroup and every process under this one."""
        if self.cgroup is not None:
            kill_cgroup(self.cgroup)
        import psutil

        try:
            children = [p.pid for p in psutil.Process().children()]
        except psutil.Error:
            children = []
        kill_tree(children)

    def stop(self, _signum: int, _frame: FrameType | None) -> None:
        """A signal (or the service's death): kill the build; run() then returns."""
        self.stopping = True
        self.kill_all()

    def _reap(self, child: Process) -> int:
        """Reap every orphan re-parented here until `child` has exited; its exit code."""
        while child.poll() is None:
            try:
                # WNOWAIT: only look; the child itself is reaped by its handle (poll).
                found = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
            except ChildProcessError:
                break
            if found is not None and found.si_pid != child.pid:
                os.waitpid(found.si_pid, 0)
        return KILLED if child.returncode is None else child.returncode


def main(args: list[str] | None = None) -> int:
    """Parse the arguments, arm the death signal, supervise the command."""
    parser = argparse.ArgumentParser(prog="python -m service.supervise")
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--cgroup", type=Path)
    parser.add_argument("--events")
    parser.add_argument("argv", nargs="+")
    options = parser.parse_args(args)
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != options.parent:  # the service died before the signal was armed
        return KILLED
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    supervisor = Supervisor(options.argv, options.cgroup, options.events)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, supervisor.stop)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
