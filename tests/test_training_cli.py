"""The real command, python -m training, run as a subprocess.

Training runs share one model directory per module. The first run uses the
defaults, which publish the default model in seconds, and the second trains a
stacked network from random weights for one epoch.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import start_server, stop_server
from training.data import MAX_EVAL_STEP, minimum_length

ROOT = Path(__file__).resolve().parent.parent
NAME = "sine"
EXIT_INPUT_ERROR = 2
EXIT_QUALITY_GATE = 3
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_training(*arguments: str, timeout: float = 600) -> subprocess.CompletedProcess:
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "training", *arguments]
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout)


def describe(completed: subprocess.CompletedProcess) -> str:
    return f"exit {completed.returncode}\nstdout:\n{completed.stdout[-3000:]}\nstderr:\n{completed.stderr[-3000:]}"


def read_metadata(version_dir: Path) -> dict:
    return json.loads((version_dir / "metadata.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store holding stray entries, then two versions trained by the real CLI."""
    root = tmp_path_factory.mktemp("model-store")
    (root / NAME / ".tmp-stray").mkdir(parents=True)
    (root / NAME / "notes").mkdir()
    (root / NAME / "latest").write_text("not a version")

    first = run_training("--model-dir", str(root))
    assert first.returncode == 0, describe(first)
    (root / "first-run-stdout.txt").write_text(first.stdout)

    second = run_training("--model-dir", str(root), "--init", "random", "--epochs", "1", "--units", "4,4", "--max-mae", "10")
    assert second.returncode == 0, describe(second)
    return root


@pytest.fixture(scope="module")
def first_version(model_dir: Path) -> Path:
    return model_dir / NAME / "1"


@pytest.fixture(scope="module")
def metadata(first_version: Path) -> dict:
    return read_metadata(first_version)


@pytest.mark.slow
def test_cli_default_network_beats_mae_gate(metadata: dict, first_version: Path) -> None:
    assert metadata["training"]["units"] == [20]
    assert metadata["data"]["source"] == "synthetic"
    assert metadata["metrics"]["test_mae"] < 0.1
    assert (first_version / "predictions.png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.slow
@pytest.mark.parametrize(
    "relative_path",
    [
        pytest.param("saved_model.pb", id="saved-model"),
        pytest.param("variables/variables.index", id="variables"),
        pytest.param("metadata.json", id="metadata"),
        pytest.param("predictions.png", id="predictions-plot"),
        pytest.param("mae_by_step.png", id="mae-by-step-plot"),
        pytest.param("intervals.json", id="intervals"),
    ],
)
def test_cli_version_contains_file(first_version: Path, relative_path: str) -> None:
    assert (first_version / relative_path).is_file()


@pytest.mark.slow
def test_cli_report_lists_errors(model_dir: Path) -> None:
    report = (model_dir / "first-run-stdout.txt").read_text()

    assert f"version 1 written to {model_dir / NAME / '1'}" in report
    assert "last value" in report
    assert "linear" in report
    for step in (1, 10, 25, 50):
        assert f"\n  {step:>4}  " in report


@pytest.mark.slow
def test_cli_second_run_writes_version_2(model_dir: Path) -> None:
    second = model_dir / NAME / "2"

    assert read_metadata(second)["version"] == 2
    assert read_metadata(second)["training"]["units"] == [4, 4]


@pytest.mark.slow
def test_cli_stray_entries_are_ignored_and_kept(model_dir: Path) -> None:
    entries = sorted(entry.name for entry in (model_dir / NAME).iterdir())

    assert entries == [".tmp-stray", "1", "2", "latest", "notes"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("key", "expected_type"),
    [
        pytest.param("name", str, id="name"),
        pytest.param("version", int, id="version"),
        pytest.param("window", int, id="window"),
        pytest.param("max_horizon", int, id="max_horizon"),
        pytest.param("created_at", str, id="created_at"),
        pytest.param("data", dict, id="data"),
        pytest.param("split", dict, id="split"),
        pytest.param("scaling", dict, id="scaling"),
        pytest.param("training", dict, id="training"),
        pytest.param("versions", dict, id="versions"),
        pytest.param("signatures", dict, id="signatures"),
        pytest.param("intervals", dict, id="intervals"),
        pytest.param("metrics", dict, id="metrics"),
    ],
)
def test_metadata_top_level_key_type(metadata: dict, key: str, expected_type: type) -> None:
    assert isinstance(metadata[key], expected_type)


@pytest.mark.slow
def test_metadata_identity_values(metadata: dict) -> None:
    assert metadata["name"] == NAME
    assert metadata["version"] == 1
    assert metadata["window"] == 50
    assert metadata["max_horizon"] == 1000
    assert metadata["created_at"].endswith("+00:00")


@pytest.mark.slow
def test_metadata_synthetic_data_source(metadata: dict) -> None:
    assert metadata["data"] == {
        "source": "synthetic",
        "formula": "sin(0.01 * t) + normal(0, noise_std), t = 0..4999",
        "length": 5000,
        "noise_std": 0.05,
        "seed": 0,
    }


@pytest.mark.slow
def test_metadata_split_counts(metadata: dict) -> None:
    assert metadata["split"] == {
        "train": {"values": 3000, "windows": 2950},
        "validation": {"values": 500, "windows": 450},
        "calibration": {"values": 750, "windows": 700},
        "test": {"values": 750, "windows": 700},
    }


@pytest.mark.slow
def test_metadata_scaling_matches_training_part(metadata: dict) -> None:
    noise = np.random.default_rng(0).normal(0.0, 0.05, size=5000)
    train = (np.sin(0.01 * np.arange(5000)) + noise)[:3000]

    assert metadata["scaling"]["mean"] == pytest.approx(float(np.mean(train)), abs=1e-12)
    assert metadata["scaling"]["std"] == pytest.approx(float(np.std(train)), abs=1e-12)


@pytest.mark.slow
def test_metadata_training_settings(metadata: dict) -> None:
    training = metadata["training"]

    assert training["init"] == "linear (order 12, ridge 0.01)"
    assert training["epochs_run"] == 0
    assert training["batch_size"] == 32
    assert training["learning_rate"] == pytest.approx(0.001)
    assert training["clipnorm"] == pytest.approx(1.0)
    assert training["seed"] == 0
    assert training["seconds"] > 0


@pytest.mark.slow
def test_metadata_versions_are_strings(metadata: dict) -> None:
    assert set(metadata["versions"]) >= {"tensorflow", "keras", "python"}
    assert all(isinstance(value, str) for value in metadata["versions"].values())


@pytest.mark.slow
def test_metadata_signatures_describe_inputs_and_outputs(metadata: dict) -> None:
    signatures = metadata["signatures"]

    assert set(signatures) == {"serving_default", "forecast", "saliency"}
    assert set(signatures["serving_default"]["inputs"]) == {"window"}
    assert set(signatures["forecast"]["inputs"]) == {"window", "horizon"}
    assert "[batch, horizon]" in signatures["forecast"]["outputs"]["forecast"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "key",
    [
        pytest.param("test_mae", id="model"),
        pytest.param("baseline_last_value_mae", id="last-value"),
        pytest.param("baseline_linear_mae", id="linear"),
    ],
)
def test_metadata_one_step_mae_is_positive_float(metadata: dict, key: str) -> None:
    value = metadata["metrics"][key]

    assert isinstance(value, float)
    assert 0.0 < value < 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "key",
    [
        pytest.param("mae_by_step", id="model"),
        pytest.param("baseline_last_value_mae_by_step", id="last-value"),
        pytest.param("baseline_linear_mae_by_step", id="linear"),
    ],
)
def test_metadata_mae_by_step_has_50_floats(metadata: dict, key: str) -> None:
    values = metadata["metrics"][key]

    assert len(values) == MAX_EVAL_STEP
    assert all(isinstance(value, float) for value in values)


@pytest.mark.slow
def test_metadata_window_counts(metadata: dict) -> None:
    assert metadata["metrics"]["num_test_windows"] == 700
    assert metadata["metrics"]["num_forecast_windows"] == 651


@pytest.mark.slow
def test_metadata_step_one_equals_one_step_mae(metadata: dict) -> None:
    metrics = metadata["metrics"]

    # Step 1 of the by-step table scores fewer start points than the one-step MAE.
    assert metrics["baseline_last_value_mae_by_step"][0] == pytest.approx(metrics["baseline_last_value_mae"], rel=0.05)
    assert metrics["mae_by_step"][0] == pytest.approx(metrics["test_mae"], rel=0.05)


@pytest.mark.slow
def test_cli_quality_gate_failure_writes_nothing(tmp_path: Path) -> None:
    completed = run_training("--model-dir", str(tmp_path / "store"), "--max-mae", "0.0001")

    assert completed.returncode == EXIT_QUALITY_GATE, describe(completed)
    assert "above the maximum 0.0001" in completed.stderr
    assert not (tmp_path / "store").exists()


@pytest.mark.slow
def test_cli_csv_series_trains_and_records_source(tmp_path: Path) -> None:
    length = minimum_length() + 40
    values = np.sin(0.05 * np.arange(length)) + 3.0
    csv_path = tmp_path / "series.csv"
    csv_path.write_text("time,level\n" + "".join(f"{t},{float(value)!r}\n" for t, value in enumerate(values)))

    completed = run_training(
        "--model-dir", str(tmp_path / "store"), "--name", "levels",
        "--csv", str(csv_path), "--column", "level",
        "--init", "random", "--epochs", "1", "--units", "4", "--max-mae", "10",
    )

    assert completed.returncode == 0, describe(completed)
    data = read_metadata(tmp_path / "store" / "levels" / "1")["data"]
    assert data == {"source": "csv", "path": str(csv_path.resolve()), "column": "level", "length": length}


def csv_text(values: list[float]) -> str:
    return "value\n" + "".join(f"{value}\n" for value in values)


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        pytest.param("a,b\n1,2\n", "value", "column 'value' not found in .*; available columns: 'a', 'b'", id="missing-column"),
        pytest.param("value\n1\n2\nabc\n", "value", r"data row 3 \(line 4 of .*\), column 'value': 'abc' is not a number", id="non-numeric"),
        pytest.param("", "value", "is empty; expected a header row and data rows", id="empty-file"),
        pytest.param("value\n", "value", "has a header row but no data rows", id="header-only"),
        pytest.param(csv_text([1.25] * 1000), "value", "is constant at 1.25", id="constant-series"),
        pytest.param(csv_text(list(range(300))), "value", f"series has 300 values, .* at least {minimum_length()} values", id="too-short"),
    ],
)
def test_cli_invalid_csv_exits_2_and_writes_nothing(tmp_path: Path, text: str, column: str, message: str) -> None:
    csv_path = tmp_path / "series.csv"
    csv_path.write_text(text)

    completed = run_training("--model-dir", str(tmp_path / "store"), "--csv", str(csv_path), "--column", column)

    assert completed.returncode == EXIT_INPUT_ERROR, describe(completed)
    error_lines = [line for line in completed.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, completed.stderr
    assert re.search(message, error_lines[0]), completed.stderr
    assert completed.stdout == ""
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param(["--csv", "series.csv"], "--csv and --column must be given together", id="csv-without-column"),
        pytest.param(["--units", "20,0"], "every size must be at least 1", id="zero-units"),
        pytest.param(["--units", "twenty"], "invalid layer sizes 'twenty'", id="non-integer-units"),
        pytest.param(["--max-horizon", "10"], "--max-horizon must be at least --eval-steps (50)", id="small-max-horizon"),
        pytest.param(["--units", "8"], "--init linear needs one SimpleRNN layer of at least --linear-order (12) units", id="linear-too-few-units"),
        pytest.param(["--units", "20,20"], "pass --init random for other networks", id="linear-stacked-units"),
        pytest.param(["--fill", "interpolate"], "--fill applies only to --csv input", id="fill-without-csv"),
        pytest.param(["--learning-rate", "-1"], "expected a positive finite number", id="negative-learning-rate"),
        pytest.param(["--name", "../escape"], "invalid model name", id="name-with-slash"),
        pytest.param(["--seed", "-1"], "expected a non-negative integer, got -1", id="negative-seed"),
        pytest.param(["--epochs", "0"], "expected a positive integer, got 0", id="zero-epochs"),
    ],
)
def test_cli_invalid_option_exits_2(tmp_path: Path, arguments: list[str], message: str) -> None:
    completed = run_training("--model-dir", str(tmp_path / "store"), *arguments)

    assert completed.returncode == EXIT_INPUT_ERROR, describe(completed)
    assert message in completed.stderr
    assert not (tmp_path / "store").exists()


@pytest.mark.slow
def test_metadata_default_model_holds_over_50_steps(metadata: dict) -> None:
    mae_by_step = metadata["metrics"]["mae_by_step"]

    assert mae_by_step[0] <= 0.045
    assert mae_by_step[49] <= 0.055


@pytest.mark.slow
def test_metadata_interval_coverage_records_every_level(metadata: dict) -> None:
    assert sorted(metadata["metrics"]["interval_coverage"], key=int) == [str(level) for level in range(1, 100)]


@pytest.mark.slow
@pytest.mark.parametrize("level", [pytest.param(str(level), id=f"level-{level}") for level in range(1, 100)])
def test_metadata_interval_coverage_near_nominal(metadata: dict, level: str) -> None:
    coverage = metadata["metrics"]["interval_coverage"][level]

    assert abs(coverage - int(level) / 100) <= 0.03


@pytest.mark.slow
def test_intervals_file_holds_every_level_and_step(first_version: Path, metadata: dict) -> None:
    intervals = json.loads((first_version / "intervals.json").read_text())
    steps = metadata["intervals"]["steps"]

    assert intervals["steps"] == steps == 141
    assert sorted(int(level) for level in intervals["half_widths"]) == list(range(1, 100))
    assert all(len(widths) == steps for widths in intervals["half_widths"].values())
    assert intervals["half_widths"]["80"][0] <= intervals["half_widths"]["95"][0]


@pytest.mark.slow
def test_cli_csv_with_gaps_and_no_fill_lists_rows(tmp_path: Path) -> None:
    values = [str(float(v)) for v in np.sin(0.05 * np.arange(minimum_length()))]
    values[3] = values[10] = ""
    csv_path = tmp_path / "series.csv"
    csv_path.write_text("time,level\n" + "".join(f"{t},{value}\n" for t, value in enumerate(values)))

    completed = run_training("--model-dir", str(tmp_path / "store"), "--csv", str(csv_path), "--column", "level")

    assert completed.returncode == EXIT_INPUT_ERROR, describe(completed)
    assert "2 missing values in column 'level'" in completed.stderr
    assert "data rows 4 (line 5), 11 (line 12)" in completed.stderr
    assert not (tmp_path / "store").exists()


@pytest.mark.slow
def test_cli_large_trending_csv_with_gaps_interpolates(tmp_path: Path) -> None:
    length = 2000
    t = np.arange(length)
    values = 1e6 * (np.sin(0.01 * t) + np.random.default_rng(1).normal(0.0, 0.05, length)) + 500.0 * t
    cells = [repr(float(v)) for v in values]
    for index in (0, 700, 701, 1500):
        cells[index] = ""
    csv_path = tmp_path / "series.csv"
    csv_path.write_text("time,value\n" + "".join(f"{t},{cell}\n" for t, cell in enumerate(cells)))

    completed = run_training(
        "--model-dir", str(tmp_path / "store"), "--csv", str(csv_path), "--column", "value",
        "--fill", "interpolate", "--max-mae", "1e6",
    )

    assert completed.returncode == 0, describe(completed)
    metadata = read_metadata(tmp_path / "store" / NAME / "1")
    assert metadata["data"]["filled"] == 4
    assert metadata["metrics"]["test_mae"] < 2 * metadata["metrics"]["baseline_last_value_mae"]
    assert metadata["metrics"]["mae_by_step"][49] < metadata["metrics"]["baseline_last_value_mae_by_step"][49]


@pytest.mark.slow
def test_cli_difference_follows_trend_beyond_training_range(tmp_path: Path) -> None:
    length = 2000
    t = np.arange(length)
    values = 0.02 * t + 3.0 * np.sin(2 * np.pi * t / 52) + np.random.default_rng(2).normal(0.0, 0.3, length)
    csv_path = tmp_path / "series.csv"
    csv_path.write_text("time,value\n" + "".join(f"{step},{value!r}\n" for step, value in zip(t, values.tolist())))

    completed = run_training(
        "--model-dir", str(tmp_path / "store"), "--csv", str(csv_path), "--column", "value", "--difference", "--max-mae", "1",
    )

    assert completed.returncode == 0, describe(completed)
    metadata = read_metadata(tmp_path / "store" / NAME / "1")
    assert metadata["training"]["difference"] is True
    assert metadata["scaling"]["of"] == "first differences"
    assert metadata["metrics"]["mae_by_step"][49] < metadata["metrics"]["baseline_last_value_mae_by_step"][49]


@pytest.mark.slow
def test_cli_gradient_trained_simple_rnn_beats_mae_gate(tmp_path: Path) -> None:
    """SimpleRNN(20) -> Dense(1) fitted by Adam on the default series clears the 0.1 MAE gate and plots."""
    completed = run_training("--model-dir", str(tmp_path), "--init", "random", "--epochs", "5")

    assert completed.returncode == 0, describe(completed)
    version = tmp_path / "sine" / "1"
    metadata = json.loads((version / "metadata.json").read_text())
    assert metadata["training"]["units"] == [20]
    assert metadata["metrics"]["test_mae"] < 0.1
    assert (version / "predictions.png").read_bytes().startswith(PNG_MAGIC)
    assert "Epoch 1/5" in completed.stdout + completed.stderr


@pytest.mark.slow
def test_cli_short_series_exports_no_intervals(tmp_path: Path) -> None:
    length = 700  # Its calibration part of 105 values is shorter than the 150 that intervals need.
    rng = np.random.default_rng(3)
    values = np.sin(0.05 * np.arange(length)) + rng.normal(0.0, 0.05, length)
    csv_path = tmp_path / "series.csv"
    csv_path.write_text("value\n" + "".join(f"{float(value)!r}\n" for value in values))
    store = tmp_path / "store"

    completed = run_training("--model-dir", str(store), "--csv", str(csv_path), "--column", "value")

    assert completed.returncode == 0, describe(completed)
    assert "the calibration part has 105 values, fewer than the 150 that intervals need" in completed.stderr
    assert "prediction intervals: none" in completed.stdout
    version_dir = store / NAME / "1"
    assert not (version_dir / "intervals.json").exists()
    metadata = read_metadata(version_dir)
    assert metadata["intervals"] is None
    assert metadata["metrics"]["interval_coverage"] is None

    process, base_url = start_server(store, tmp_path / "server.log")
    try:
        plain = httpx.post(f"{base_url}/forecast", json={"window": values[-50:].tolist(), "horizon": 3}, timeout=30)
        with_levels = httpx.post(f"{base_url}/forecast", json={"window": values[-50:].tolist(), "horizon": 3, "levels": [80]}, timeout=30)
    finally:
        stop_server(process)

    assert plain.status_code == 200
    assert len(plain.json()["forecast"]) == 3
    assert with_levels.status_code == 422
    assert with_levels.json()["error"]["message"].startswith(
        "levels: expected no levels, because this model version was exported without calibrated intervals"
    )


@pytest.mark.slow
def test_cli_unstable_linear_init_exports_nothing(tmp_path: Path) -> None:
    # A noiseless sine with a short interpolated gap makes the order-12 realization unstable.
    values = [repr(float(np.sin(0.05 * t))) if t not in (4, 5, 6) else "" for t in range(1200)]
    csv_path = tmp_path / "series.csv"
    csv_path.write_text("value\n" + "".join(f"{value}\n" for value in values))

    completed = run_training(
        "--model-dir", str(tmp_path / "store"), "--csv", str(csv_path), "--column", "value", "--fill", "interpolate"
    )

    assert completed.returncode == EXIT_QUALITY_GATE, describe(completed)
    assert "the linear initialization of order 12 is unstable" in completed.stderr
    assert "Train with --init random" in completed.stderr
    assert not (tmp_path / "store").exists()
