"""Load: 20,000 mixed requests at concurrency 64 against a real uvicorn process.

Run alone with `pytest -m load -s tests/test_service_load.py` to see the figures
that docs/reliability.md records.
"""

import asyncio
import collections
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import start_server, stop_server

pytestmark = [pytest.mark.load, pytest.mark.slow]

TOTAL_REQUESTS = 20_000
CONCURRENCY = 64
# A hang guard, not a speed target: the benchmark measures speed.
TIME_LIMIT_SECONDS = 900.0
WINDOW = [round(0.01 * step, 4) for step in range(50)]

# Ten request kinds used in turn, with the status each must get.
REQUEST_MIX = [
    ("one-step", {"window": WINDOW}, 200),
    ("one-step", {"window": WINDOW}, 200),
    ("one-step", {"window": WINDOW}, 200),
    ("one-step", {"window": WINDOW}, 200),
    ("horizon-5", {"window": WINDOW, "horizon": 5}, 200),
    ("horizon-25", {"window": WINDOW, "horizon": 25}, 200),
    ("horizon-100", {"window": WINDOW, "horizon": 100}, 200),
    ("short-window", {"window": WINDOW[:49]}, 422),
    ("horizon-0", {"window": WINDOW, "horizon": 0}, 422),
    ("truncated-json", '{"window": [1, 2', 422),
]


async def send_one(client: httpx.AsyncClient, semaphore: asyncio.Semaphore, index: int) -> tuple[str, int | str]:
    kind, body, _ = REQUEST_MIX[index % len(REQUEST_MIX)]
    content = body if isinstance(body, str) else json.dumps(body)
    async with semaphore:
        try:
            response = await client.post("/forecast", content=content, headers={"Content-Type": "application/json"})
        except httpx.TransportError as error:
            return kind, type(error).__name__
    return kind, response.status_code


async def run_load(base_url: str) -> tuple[collections.Counter, float]:
    semaphore = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0) as client:
        started = time.perf_counter()
        results = await asyncio.wait_for(
            asyncio.gather(*(send_one(client, semaphore, index) for index in range(TOTAL_REQUESTS))),
            timeout=TIME_LIMIT_SECONDS,
        )
        seconds = time.perf_counter() - started
    return collections.Counter(results), seconds


def test_load_mixed_requests_get_expected_statuses(trained_model_dir: Path, tmp_path: Path) -> None:
    process, base_url = start_server(trained_model_dir, tmp_path / "server.log", FORECAST_LOG_LEVEL="warning")
    try:
        outcomes, seconds = asyncio.run(run_load(base_url))
    finally:
        exit_code = stop_server(process)

    expected = collections.Counter()
    for index in range(TOTAL_REQUESTS):
        kind, _, status = REQUEST_MIX[index % len(REQUEST_MIX)]
        expected[(kind, status)] += 1
    statuses = collections.Counter()
    for (_, status), count in outcomes.items():
        statuses[status] += count
    print(
        f"\nload: {TOTAL_REQUESTS} requests, concurrency {CONCURRENCY}, {seconds:.1f} s, "
        f"{TOTAL_REQUESTS / seconds:.0f} requests/s, statuses {dict(sorted(statuses.items(), key=str))}"
    )

    assert not [outcome for outcome in outcomes if isinstance(outcome[1], str)], "connection errors"
    assert outcomes == expected
    assert exit_code == 0
