"""The firmware toolchains' steps carry a digest of fedbuild's hardware/ (tooling and
runtime) in their env: editing a linker script, the startup code or the image builder
changes every firmware step's fingerprint and cache key."""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

import pytest

from core.state import State
from federation.loader import load_project
from federation.platforms import host
from federation.steps import folder_digest, hardware_digest, plan_steps
from tests.conftest import REPO, copy_example


def test_the_digest_follows_the_runtime_and_the_tooling(tmp_path: Path) -> None:
    hardware = tmp_path / "hardware"
    shutil.copytree(REPO / "hardware", hardware, ignore=shutil.ignore_patterns("__pycache__"))
    before = folder_digest.__wrapped__(hardware)
    assert len(before) == 16 and folder_digest.__wrapped__(hardware) == before
    (hardware / "__pycache__").mkdir(exist_ok=True)
    (hardware / "__pycache__" / "x.pyc").write_bytes(b"compiled")  # not source: ignored
    assert folder_digest.__wrapped__(hardware) == before
    script = hardware / "firmware" / "esp32c3.ld"
    script.write_text(script.read_text() + "\n/* changed */\n")
    after_script = folder_digest.__wrapped__(hardware)
    assert after_script != before
    (hardware / "image.py").write_text((hardware / "image.py").read_text() + "\n# changed\n")
    assert folder_digest.__wrapped__(hardware) not in (before, after_script)


def test_every_firmware_step_carries_it_in_its_env(tmp_path: Path) -> None:
    repo = copy_example(tmp_path / "example")
    project = load_project(repo)
    steps = plan_steps(project, State(repo), project.toolchains, "development", host())
    firmware = [s for s in steps.steps if s.module == "firmware"]
    assert {s.step for s in firmware} >= {"build", "size", "qemu"}
    assert all(s.env["FEDBUILD_HARDWARE"] == hardware_digest() for s in firmware)
    assert firmware[0].tool is not None
    assert firmware[0].tool.version == ("riscv64-unknown-elf-gcc", "--version")


def test_the_esptool_version_is_part_of_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """esptool makes the images (elf2image, merge_bin): another version, another digest."""
    installed = hardware_digest.__wrapped__()
    assert importlib.metadata.version("esptool") and len(installed) == 16

    def other(name: str) -> str:
        return "4.0.0" if name == "esptool" else importlib.metadata.version(name)
    monkeypatch.setattr(importlib.metadata, "version", other)
    assert hardware_digest.__wrapped__() != installed

