"""The host this run builds on: platform, architecture and the matching target triple."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass

_PLATFORMS = {"linux": "linux", "darwin": "darwin", "win32": "win32", "cygwin": "win32"}
_ARCHES = {"x86_64": "x64", "amd64": "x64", "x64": "x64", "aarch64": "arm64", "arm64": "arm64"}
TRIPLES = {
    ("linux", "x64"): "x86_64-unknown-linux-gnu",
    ("linux", "arm64"): "aarch64-unknown-linux-gnu",
    ("darwin", "x64"): "x86_64-apple-darwin",
    ("darwin", "arm64"): "aarch64-apple-darwin",
    ("win32", "x64"): "x86_64-pc-windows-msvc",
    ("win32", "arm64"): "aarch64-pc-windows-msvc",
}


@dataclass(frozen=True)
class Host:
    """A platform (linux, darwin, win32) and an architecture (x64, arm64)."""

    platform: str
    arch: str

    @property
    def name(self) -> str:
        """`linux-x64`, as modules.json's `platforms` writes it."""
        return f"{self.platform}-{self.arch}"

    @property
    def target_triple(self) -> str:
        """The Rust/LLVM target triple of the host ("" when unknown)."""
        return TRIPLES.get((self.platform, self.arch), "")

    def matches(self, entries: list[str]) -> bool:
        """Whether `linux` or `linux-x64` style entries name this host (no entries: any host)."""
        return not entries or any(e in (self.platform, self.name) for e in entries)


def host() -> Host:
    """The machine running this build."""
    system = next((v for k, v in _PLATFORMS.items() if sys.platform.startswith(k)), sys.platform)
    machine = platform.machine().lower()
    return Host(system, _ARCHES.get(machine, machine))
