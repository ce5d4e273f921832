"""Integration tests need the real engine and the local test images (scripts/setup.sh)."""

from __future__ import annotations

import docker
import pytest

from tests.integration.stacks import PROBE_IMAGE

LAST = "test_no_probe_left_behind"


@pytest.fixture(scope="session", autouse=True)
def engine() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
        client.images.get(PROBE_IMAGE)
        client.images.get("ddiag-test/busybox:latest")
    except docker.errors.DockerException as exc:
        pytest.fail(
            f"integration tests need a Docker engine and the test images: {exc}. "
            "Run `bash scripts/setup.sh` first."
        )
    return client


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The leftover-probe test looks at what the whole suite left: it runs last."""
    items.sort(key=lambda item: item.name == LAST)
