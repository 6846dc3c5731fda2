"""The build service's tests share one running `doit serve` (two workers, no public reads,
no webhook secret); tests needing other options start their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.service.service_server import Service, running_service


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service with two workers, shared by the tests (each registers its own repos)."""
    with running_service(tmp_path_factory.mktemp("service") / "data") as running:
        yield running
