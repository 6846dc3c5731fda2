"""The check before a build: doit's own one-line errors, and ESP-IDF projects' files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.config import ServiceConfig
from service.db import Database
from service.projects import ProjectError, Projects
from tests.conftest import run_doit

FIRMWARE = {
    "federation": {"name": "firmware", "baseURL": "https://fw.example.org"},
    "modules": [{"name": "fw", "source": {"repository": "local", "path": "modules/fw"},
                 "toolchain": "esp-idf", "target": "esp32c3"}],
}


@pytest.fixture
def projects(tmp_path: Path) -> Projects:
    config = ServiceConfig(data=tmp_path / "data")
    return Projects(config, Database(config.db))


def firmware_repo(root: Path, cmakelists: str | None) -> Path:
    (root / "modules" / "fw" / "main").mkdir(parents=True)
    (root / "modules.json").write_text(json.dumps(FIRMWARE))
    if cmakelists is not None:
        (root / "modules" / "fw" / "CMakeLists.txt").write_text(cmakelists)
    return root


def test_an_esp_idf_module_without_its_project_file_is_doits_manifest_error(
        projects: Projects, tmp_path: Path) -> None:
    repo = firmware_repo(tmp_path / "repo", None)
    line = projects.problem(repo)
    assert line == ("modules.json: modules[0].source.path: modules/fw/CMakeLists.txt is "
                    "missing: modules of toolchain 'esp-idf' have CMakeLists.txt at their root")
    assert f"ERROR: {line}\n" in run_doit(repo).stderr


def test_an_esp_idf_project_file_that_is_not_one_is_refused(projects: Projects,
                                                            tmp_path: Path) -> None:
    repo = firmware_repo(tmp_path / "repo", "cmake_minimum_required(VERSION 3.16)\n")
    with pytest.raises(ProjectError) as refused:
        projects.register(path=str(repo))
    assert refused.value.status == 422
    assert refused.value.detail == (
        f"{repo / 'modules' / 'fw' / 'CMakeLists.txt'} is not an ESP-IDF project file: it must "
        "include $ENV{IDF_PATH}/tools/cmake/project.cmake and call project(NAME)")

    (repo / "modules" / "fw" / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\n"
        "include($ENV{IDF_PATH}/tools/cmake/project.cmake)\nproject(fw)\n")
    assert projects.register(path=str(repo), name="fw")["name"] == "fw"


def test_a_folder_named_like_the_service_does_not_shadow_the_check(projects: Projects,
                                                                  tmp_path: Path) -> None:
    repo = firmware_repo(tmp_path / "repo", "include(project.cmake)\nproject(fw)\n")
    (repo / "service").mkdir()
    (repo / "service" / "__init__.py").write_text("raise SystemExit('the wrong service')\n")
    assert projects.problem(repo) is None
