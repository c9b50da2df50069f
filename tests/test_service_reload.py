"""Hot reload: the service picks up higher versions and keeps serving through bad ones."""

import asyncio
import json
import shutil
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client import CollectorRegistry

from service.app import create_app
from service.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WINDOW = [0.25] * 50
POLL_SECONDS = 0.1
WAIT_SECONDS = 30.0


def copy_version(source: Path, repository: Path, version: int) -> Path:
    """Copy a trained version under a hidden name, then rename it into place as training does."""
    staging = repository / "sine" / f".tmp-{version}"
    shutil.copytree(source, staging)
    metadata_path = staging / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["version"] = version
    metadata_path.write_text(json.dumps(metadata))
    target = repository / "sine" / str(version)
    staging.rename(target)
    return target


async def wait_for_version(client: httpx.AsyncClient, version: int) -> None:
    async def served_version() -> int | None:
        response = await client.get("/readyz")
        return response.json()["model"]["version"] if response.status_code == 200 else None

    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while await served_version() != version:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"version {version} was not served within {WAIT_SECONDS} s")
        await asyncio.sleep(POLL_SECONDS)


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    (tmp_path / "sine").mkdir()
    return tmp_path


@pytest.fixture
async def reloading_client(repository: Path):
    settings = Settings(model_dir=repository, reload_interval_seconds=POLL_SECONDS, max_batch_size=4)  # Few batch sizes to compile per load.
    app = create_app(settings, registry=CollectorRegistry())
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver") as client:
            yield client


async def test_reload_empty_directory_becomes_ready(reloading_client: httpx.AsyncClient, repository: Path, trained_model_dir: Path) -> None:
    assert (await reloading_client.get("/readyz")).status_code == 503

    copy_version(trained_model_dir / "sine" / "1", repository, 1)
    await wait_for_version(reloading_client, 1)

    response = await reloading_client.post("/forecast", json={"window": WINDOW})
    assert response.status_code == 200
    assert response.json()["model"]["version"] == 1


async def test_reload_swaps_to_higher_version(reloading_client: httpx.AsyncClient, repository: Path, trained_model_dir: Path) -> None:
    copy_version(trained_model_dir / "sine" / "1", repository, 1)
    await wait_for_version(reloading_client, 1)

    copy_version(trained_model_dir / "sine" / "1", repository, 2)
    await wait_for_version(reloading_client, 2)

    assert (await reloading_client.get("/model")).json()["version"] == 2


def corrupt_saved_model(version_dir: Path) -> None:
    (version_dir / "saved_model.pb").write_bytes(b"this is not a protocol buffer")


def truncate_variables(version_dir: Path) -> None:
    for data_file in (version_dir / "variables").glob("variables.data-*"):
        data_file.write_bytes(data_file.read_bytes()[:10])


def change_window(version_dir: Path) -> None:
    metadata_path = version_dir / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["window"] = 30
    metadata_path.write_text(json.dumps(metadata))


@pytest.mark.parametrize("corrupt", [corrupt_saved_model, truncate_variables, change_window], ids=["garbage-pb", "truncated-variables", "window-mismatch"])
async def test_reload_keeps_serving_through_corrupt_version(
    reloading_client: httpx.AsyncClient, repository: Path, trained_model_dir: Path, corrupt, caplog: pytest.LogCaptureFixture
) -> None:
    copy_version(trained_model_dir / "sine" / "1", repository, 1)
    await wait_for_version(reloading_client, 1)

    staging = repository / "sine" / ".tmp-bad"
    shutil.copytree(trained_model_dir / "sine" / "1", staging)
    corrupt(staging)
    staging.rename(repository / "sine" / "2")
    await wait_for_failure_count(reloading_client, 1)

    assert (await reloading_client.post("/forecast", json={"window": WINDOW})).json()["model"]["version"] == 1
    assert str(repository / "sine" / "2") in caplog.text

    copy_version(trained_model_dir / "sine" / "1", repository, 3)
    await wait_for_version(reloading_client, 3)


async def wait_for_failure_count(client: httpx.AsyncClient, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    line = f"forecast_model_load_failures_total {float(count)}"
    while line not in (await client.get("/metrics")).text:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"expected {line!r} within {WAIT_SECONDS} s")
        await asyncio.sleep(POLL_SECONDS)


async def test_reload_keeps_serving_after_version_directory_deleted(
    reloading_client: httpx.AsyncClient, repository: Path, trained_model_dir: Path
) -> None:
    target = copy_version(trained_model_dir / "sine" / "1", repository, 1)
    await wait_for_version(reloading_client, 1)

    shutil.rmtree(target)
    await asyncio.sleep(POLL_SECONDS * 5)

    response = await reloading_client.post("/forecast", json={"window": WINDOW, "horizon": 5})
    assert response.status_code == 200
    assert response.json()["model"]["version"] == 1
