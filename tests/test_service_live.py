"""Integration: a real uvicorn process on a loopback port, called over HTTP with the service's client."""

import pytest
from conftest import start_server, stop_server

from service.client import AsyncForecastClient, ForecastAPIError, ForecastClient

pytestmark = pytest.mark.slow

WINDOW = [0.5] * 50
FORECAST_SERIES = 'forecast_http_requests_total{method="POST",route="/forecast",status="200"}'


def test_live_one_step_forecast(live_server: str) -> None:
    with ForecastClient(live_server) as client:
        result = client.forecast(WINDOW)

    assert len(result.forecast) == 1
    assert result.model_name == "sine"


def test_live_multi_step_forecast(live_server: str) -> None:
    with ForecastClient(live_server) as client:
        result = client.forecast(WINDOW, horizon=24)

    assert len(result.forecast) == 24
    assert result.horizon == 24


def test_live_bad_input_returns_422(live_server: str) -> None:
    with ForecastClient(live_server) as client, pytest.raises(ForecastAPIError) as raised:
        client.forecast(WINDOW[:49])

    assert raised.value.status_code == 422
    assert raised.value.fields[0]["field"] == "window"


def test_live_readyz_returns_200(live_server: str) -> None:
    with ForecastClient(live_server) as client:
        readiness = client.ready()

    assert readiness.status == "ready"
    assert readiness.model_version == 1


def test_live_tfserving_predict(live_server: str) -> None:
    with ForecastClient(live_server) as client:
        body = client.predict("sine", {"instances": [WINDOW, WINDOW]})

    assert len(body["predictions"]) == 2


@pytest.mark.anyio
async def test_live_async_client_forecast(live_server: str) -> None:
    async with AsyncForecastClient(live_server) as client:
        result = await client.forecast(WINDOW, horizon=3)

    assert len(result.forecast) == 3


def test_live_metrics_scrape_counts_forecasts(live_server: str) -> None:
    with ForecastClient(live_server) as client:
        before = client.metrics()
        client.forecast(WINDOW, horizon=2)
        after = client.metrics()

    assert count_of(after, FORECAST_SERIES) == count_of(before, FORECAST_SERIES) + 1
    assert after.startswith("# HELP")


def count_of(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory: pytest.TempPathFactory):
    """A real server whose model repository is empty, so every forecast gets 503."""
    directory = tmp_path_factory.mktemp("empty-server")
    (directory / "model").mkdir()
    process, base_url = start_server(directory / "model", directory / "server.log", ready_path="/healthz", FORECAST_RELOAD_INTERVAL_SECONDS="0")
    try:
        yield base_url
    finally:
        stop_server(process)


RETRIES = [pytest.param(0, id="no-retry"), pytest.param(2, id="two-retries")]


@pytest.mark.parametrize("retries", RETRIES)
def test_client_retries_503_bounded_times(empty_server: str, retries: int) -> None:
    with ForecastClient(empty_server, retries=retries, backoff_seconds=0.01) as client:
        before = count_of(client.metrics(), FORECAST_SERIES.replace('"200"', '"503"'))
        with pytest.raises(ForecastAPIError) as raised:
            client.forecast(WINDOW)
        after = count_of(client.metrics(), FORECAST_SERIES.replace('"200"', '"503"'))

    assert raised.value.status_code == 503
    assert after - before == retries + 1


def test_client_rejects_negative_retries() -> None:
    with pytest.raises(ValueError, match="retries must be 0 or more, got -1"):
        ForecastClient("http://127.0.0.1:9", retries=-1)
