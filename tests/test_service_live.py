"""Integration: a real uvicorn process on a loopback port, called over HTTP with httpx."""

import httpx
import pytest

pytestmark = pytest.mark.slow

WINDOW = [0.5] * 50


def test_live_one_step_forecast(live_server: str) -> None:
    response = httpx.post(f"{live_server}/forecast", json={"window": WINDOW}, timeout=10)

    assert response.status_code == 200
    assert len(response.json()["forecast"]) == 1


def test_live_multi_step_forecast(live_server: str) -> None:
    response = httpx.post(f"{live_server}/forecast", json={"window": WINDOW, "horizon": 24}, timeout=10)

    assert response.status_code == 200
    assert len(response.json()["forecast"]) == 24
    assert response.json()["horizon"] == 24


def test_live_bad_input_returns_422(live_server: str) -> None:
    response = httpx.post(f"{live_server}/forecast", json={"window": WINDOW[:49]}, timeout=10)

    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "window"


def test_live_readyz_returns_200(live_server: str) -> None:
    response = httpx.get(f"{live_server}/readyz", timeout=10)

    assert response.status_code == 200


def test_live_metrics_scrape_counts_forecasts(live_server: str) -> None:
    before = httpx.get(f"{live_server}/metrics", timeout=10).text
    httpx.post(f"{live_server}/forecast", json={"window": WINDOW, "horizon": 2}, timeout=10)
    after = httpx.get(f"{live_server}/metrics", timeout=10).text

    assert count_of(after, 'forecast_http_requests_total{method="POST",route="/forecast",status="200"}') == (
        count_of(before, 'forecast_http_requests_total{method="POST",route="/forecast",status="200"}') + 1
    )
    assert after.startswith("# HELP")


def count_of(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
