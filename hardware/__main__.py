"""`python -m hardware <command> ...`: what the firmware toolchains' steps run.

Each command is a `main(argv) -> int` in its own module, imported only when used.
A HardwareError ends the command with its one-line message and exit code 1.
"""

from __future__ import annotations

import importlib
import sys

from core.errors import HardwareError

COMMANDS = {
    "build": ("hardware.image", "compile a bare-metal app and make its flashable image"),
    "check": ("hardware.idf", "check an ESP-IDF project before building it"),
    "idf-build": ("hardware.idf", "idf.py set-target and build, artifacts into an out folder"),
    "size": ("hardware.size", "memory use from the link map, against budgets"),
    "flash": ("hardware.flash", "write an image to one or several boards"),
    "test": ("hardware.device_test", "read a board's Unity test output over serial"),
    "qemu": ("hardware.qemu", "run an app in QEMU and read its Unity test output"),
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the command's module."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in COMMANDS:
        known = "\n".join(f"  {name:10} {doc}" for name, (_, doc) in COMMANDS.items())
        print(f"usage: python -m hardware COMMAND ...\n{known}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[args[0]][0])
    entry = getattr(module, "main_" + args[0].replace("-", "_"), None) or module.main
    try:
        return int(entry(args[1:]))
    except HardwareError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
