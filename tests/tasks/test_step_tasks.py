"""Step task generation: which steps count as on-device (left out of group runs without a
board's port), read from the shipped firmware toolchain through the example's plan."""

from __future__ import annotations

from doit.task import Task

from core.state import State
from federation.loader import load_project
from federation.platforms import host
from federation.steps import plan_steps
from tasks.clean import CLEAN
from tasks.planned import ON_DEVICE
from tasks.steps import on_device, step_tasks
from tests.conftest import REPO


def test_flash_and_chip_tests_are_on_device_qemu_is_not() -> None:
    project = load_project(REPO)
    plan = plan_steps(project, State(REPO), project.toolchains, "development", host())
    firmware = {s.task: on_device(s) for s in plan.steps if s.module == "firmware"}
    assert firmware["flash:firmware"] and firmware["test:firmware"]
    assert not firmware["qemu:firmware"] and not firmware["build:firmware"]
    assert not any(on_device(s) for s in plan.steps if s.module != "firmware")


def test_on_device_tasks_are_made_outside_their_group() -> None:
    project = load_project(REPO)
    plan = plan_steps(project, State(REPO), project.toolchains, "development", host())
    made = list(step_tasks([s for s in plan.steps if s.step == "test"]))
    groups = [t for t in made if isinstance(t, dict) and t.get("name") is None]
    assert [g["basename"] for g in groups] == ["test"]
    outside = [t for t in made if isinstance(t, Task)]
    assert [t.name for t in outside] == ["test:firmware"]
    assert outside[0].subtask_of == "test" and outside[0].meta == {
        ON_DEVICE: {"default": False}, CLEAN: True}
