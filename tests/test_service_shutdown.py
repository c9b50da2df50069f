"""SIGTERM under load: requests in flight finish with 200, new connections are refused, the process exits 0."""

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import start_server

pytestmark = pytest.mark.slow

IN_FLIGHT_REQUESTS = 48
# Long horizons keep every request busy for long enough that SIGTERM lands while they run.
HORIZON = 1000
WINDOW = [0.3] * 50
SEND_SECONDS = 0.5
EXIT_TIMEOUT_SECONDS = 60.0


async def forecast_and_time(client: httpx.AsyncClient) -> tuple[int | str, float]:
    try:
        response = await client.post("/forecast", json={"window": WINDOW, "horizon": HORIZON})
    except httpx.TransportError as error:
        return type(error).__name__, time.monotonic()
    return response.status_code, time.monotonic()


def try_new_connection(base_url: str) -> str:
    try:
        httpx.get(f"{base_url}/healthz", timeout=2.0)
    except httpx.ConnectError:
        return "refused"
    return "accepted"


async def terminate_under_load(process: subprocess.Popen, base_url: str) -> tuple[list[tuple[int | str, float]], float, str, int]:
    limits = httpx.Limits(max_connections=IN_FLIGHT_REQUESTS)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120.0) as client:
        tasks = [asyncio.create_task(forecast_and_time(client)) for _ in range(IN_FLIGHT_REQUESTS)]
        await asyncio.sleep(SEND_SECONDS)

        process.send_signal(signal.SIGTERM)
        terminated_at = time.monotonic()
        await asyncio.sleep(0.2)
        new_connection = await asyncio.to_thread(try_new_connection, base_url)
        pending_at_refusal = sum(not task.done() for task in tasks)

        results = await asyncio.gather(*tasks)
    return results, terminated_at, new_connection, pending_at_refusal


def test_shutdown_sigterm_drains_requests_in_flight(trained_model_dir: Path, tmp_path: Path) -> None:
    process, base_url = start_server(trained_model_dir, tmp_path / "server.log")
    try:
        results, terminated_at, new_connection, pending_at_refusal = asyncio.run(terminate_under_load(process, base_url))
        exit_code = process.wait(timeout=EXIT_TIMEOUT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    statuses = [status for status, _ in results]
    finished_after_signal = sum(finished > terminated_at for _, finished in results)
    assert statuses == [200] * IN_FLIGHT_REQUESTS
    assert finished_after_signal > 0, "every request finished before SIGTERM, so none was in flight"
    assert new_connection == "refused"
    assert pending_at_refusal > 0, "the refused connection came after every request had finished"
    assert exit_code == 0
