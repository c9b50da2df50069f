"""The experiments CLI at its --quick size: exit code, written files and one result each."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def quiet_environment() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


EXPERIMENTS = ("bptt", "vanishing", "stacked")


def experiment_command(name: str, out_dir: Path) -> list[str]:
    return [sys.executable, "-m", "training.experiments", name, "--out", str(out_dir), "--quick"]


@pytest.fixture(scope="module")
def experiment_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Run each experiment once at its quick size, all at once; return its output directory and stdout."""
    processes = {}
    for name in EXPERIMENTS:
        out_dir = tmp_path_factory.mktemp(name)
        process = subprocess.Popen(
            experiment_command(name, out_dir), cwd=ROOT, env=quiet_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        processes[name] = (out_dir, process)

    runs = {}
    for name, (out_dir, process) in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, f"{name} failed:\n{stdout[-3000:]}\n{stderr[-3000:]}"
        runs[name] = (out_dir, stdout)
    return runs


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in EXPERIMENTS])
def test_experiment_writes_figure_and_summary(experiment_runs, name):
    out_dir, stdout = experiment_runs[name]

    figure = out_dir / f"{name}.png"
    summary = out_dir / f"{name}.md"
    assert figure.stat().st_size > 0
    assert summary.read_text(encoding="utf-8").startswith("# ")
    assert f"wrote {figure}" in stdout
    assert f"wrote {summary}" in stdout


def test_bptt_reports_finite_mae_and_epoch_time(experiment_runs):
    _, stdout = experiment_runs["bptt"]
    pattern = re.compile(r"^(sine|cue) task, (full|truncated) BPTT.*: ([0-9.]+) s per epoch, test MAE (\S+)$", re.MULTILINE)

    reports = {(task, variant): (float(seconds), float(mae)) for task, variant, seconds, mae in pattern.findall(stdout)}
    assert set(reports) == {("sine", "full"), ("sine", "truncated"), ("cue", "full"), ("cue", "truncated")}
    for seconds, mae in reports.values():
        assert seconds > 0.0
        assert math.isfinite(mae)


def test_vanishing_simplernn_first_step_gradient_smaller(experiment_runs):
    _, stdout = experiment_runs["vanishing"]
    match = re.search(r"^SimpleRNN, untrained: \|dy/dx\| first step (\S+), last step (\S+),", stdout, re.MULTILINE)

    assert match is not None, stdout
    first, last = float(match.group(1)), float(match.group(2))
    assert 0.0 < first < last


def test_stacked_prints_shapes_and_error_type(experiment_runs):
    _, stdout = experiment_runs["stacked"]

    assert "rnn_2 return_sequences=True: output shape (4, 50, 20)" in stdout
    assert "rnn_2 return_sequences=False: output shape (4, 20)" in stdout
    assert "first layer without return_sequences: ValueError: " in stdout


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(["bptt"], id="missing-out"),
        pytest.param(["unknown", "--out", "x"], id="unknown-experiment"),
        pytest.param(["bptt", "--out", "x", "--epochs", "0"], id="zero-epochs"),
        pytest.param(["vanishing", "--out", "x", "--train-epochs", "-1"], id="negative-train-epochs"),
    ],
)
def test_experiments_cli_rejects_invalid_arguments(options):
    command = [sys.executable, "-m", "training.experiments", *options]
    completed = subprocess.run(command, cwd=ROOT, env=quiet_environment(), capture_output=True, text=True, timeout=60)

    assert completed.returncode == 2
    assert "error:" in completed.stderr
