"""What `pip install` of the checkout carries: every package of fedbuild, under fedbuild_doit/lib/
(never top-level), with the data files its code reads."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
import tomllib

from tests.conftest import REPO

OWN = ("core", "tasks", "federation", "hardware", "service")


def setuptools_config() -> dict[str, object]:
    """The [tool.setuptools] table of pyproject.toml."""
    with open(REPO / "pyproject.toml", "rb") as file:
        return dict(tomllib.load(file)["tool"]["setuptools"])


def test_every_package_of_the_checkout_is_installed_under_fedbuild_doit_lib() -> None:
    """A new subpackage that pyproject.toml does not list would be missing once installed."""
    found = {".".join(init.parent.relative_to(REPO).parts)
             for name in OWN for init in (REPO / name).rglob("__init__.py")
             if "install" not in init.relative_to(REPO).parts}
    listed = setuptools_config()["packages"]
    assert isinstance(listed, list)
    assert {p.removeprefix("fedbuild_doit.lib.") for p in listed
            if p.startswith("fedbuild_doit.lib.")} == found
    assert not [p for p in listed if p.split(".")[0] in OWN], "never top-level"


def test_data_files_the_code_reads_are_package_data() -> None:
    """Toolchain YAML, firmware sources and the dashboard's files are in package-data."""
    data = setuptools_config()["package-data"]
    assert isinstance(data, dict)
    for package, folder in (("tasks", "toolchains"), ("hardware", "firmware"),
                            ("service", "static"), ("federation", "defaults")):
        patterns = data[f"fedbuild_doit.lib.{package}"]
        files = [p for p in (REPO / package / folder).rglob("*") if p.is_file()
                 and "__pycache__" not in p.parts]
        assert files
        for path in files:
            rel = path.relative_to(REPO / package)
            # setuptools globs recursively: "**" stands for any number of folders
            assert any(rel.match(pattern) or (pattern.endswith("/**/*") and rel.parts[0] ==
                       pattern.split("/")[0]) for pattern in patterns), rel


def test_the_checkout_of_the_dodo_given_with_f_is_the_code_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`doit -f CHECKOUT/dodo.py` run in another repository takes fedbuild's commands and
    reporter from that checkout, as its tasks are: with an installed copy's instead, a run
    and `doit list` saw different code and disagreed about what is up to date."""
    installed = tmp_path / "site-packages" / "fedbuild_doit"  # as pip lays it out
    (installed / "lib" / "tasks" / "commands").mkdir(parents=True)
    (installed / "lib" / "tasks" / "commands" / "__init__.py").write_text("")
    shutil.copy(REPO / "tasks/commands/install/fedbuild_doit/__init__.py", installed)
    spec = importlib.util.spec_from_file_location("fedbuild_doit_under_test",
                                                  installed / "__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.chdir(tmp_path)
    for argv in (["-f", f"{REPO}/dodo.py"], [f"--file={REPO}/dodo.py"], [f"-f{REPO}/dodo.py"],
                 ["run", "--file", f"{REPO}/dodo.py", "-d", str(tmp_path)]):
        monkeypatch.setattr(sys, "argv", ["doit", *argv])
        assert module.home() == REPO
