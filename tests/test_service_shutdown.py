"""SIGTERM under load: requests in flight finish with 200, new connections are refused, the process exits 0."""

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import AsyncIterator

import httpx
import pytest

from tests.conftest import start_server

pytestmark = pytest.mark.slow

IN_FLIGHT_REQUESTS = 32
BODY = json.dumps({"window": [0.3] * 50, "horizon": 1000}).encode()
SEND_SECONDS = 1.0
REFUSAL_TIMEOUT_SECONDS = 10.0
EXIT_TIMEOUT_SECONDS = 60.0


async def held_body(release: asyncio.Event) -> AsyncIterator[bytes]:
    """Send half the body, then wait for `release`, so the request stays in flight on the server."""
    middle = len(BODY) // 2
    yield BODY[:middle]
    await release.wait()
    yield BODY[middle:]


async def forecast(client: httpx.AsyncClient, release: asyncio.Event) -> int | str:
    try:
        response = await client.post("/forecast", content=held_body(release), headers={"Content-Type": "application/json"})
    except httpx.TransportError as error:
        return type(error).__name__
    return response.status_code


def wait_for_refused_connection(base_url: str) -> bool:
    """Open new connections until one is refused; False if none is refused in time.

    A connection that reaches the listening socket's backlog just before the
    socket closes is reset instead of refused, so a reset means "not yet" and
    polling goes on until connect() itself fails.
    """
    deadline = time.monotonic() + REFUSAL_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base_url}/healthz", timeout=2.0)
        except httpx.ConnectError:
            return True
        except (httpx.ReadError, httpx.RemoteProtocolError):
            pass
        time.sleep(0.02)
    return False


async def terminate_under_load(process: subprocess.Popen, base_url: str) -> tuple[list[int | str], bool, int]:
    release = asyncio.Event()
    limits = httpx.Limits(max_connections=IN_FLIGHT_REQUESTS)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120.0) as client:
        tasks = [asyncio.create_task(forecast(client, release)) for _ in range(IN_FLIGHT_REQUESTS)]
        await asyncio.sleep(SEND_SECONDS)

        process.send_signal(signal.SIGTERM)
        refused = await asyncio.to_thread(wait_for_refused_connection, base_url)
        in_flight_at_refusal = sum(not task.done() for task in tasks)

        release.set()
        statuses = await asyncio.gather(*tasks)
    return statuses, refused, in_flight_at_refusal


def test_shutdown_sigterm_drains_requests_in_flight(trained_model_dir: Path, tmp_path: Path) -> None:
    process, base_url = start_server(trained_model_dir, tmp_path / "server.log")
    try:
        statuses, refused, in_flight_at_refusal = asyncio.run(terminate_under_load(process, base_url))
        exit_code = process.wait(timeout=EXIT_TIMEOUT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    assert refused, f"new connections were still accepted {REFUSAL_TIMEOUT_SECONDS} s after SIGTERM"
    assert in_flight_at_refusal == IN_FLIGHT_REQUESTS
    assert statuses == [200] * IN_FLIGHT_REQUESTS
    assert exit_code == 0
