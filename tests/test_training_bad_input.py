"""Bad training input: `python -m training` exits 2 with a message naming the problem and writes nothing."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, quiet_environment

EXIT_INPUT_ERROR = 2
ROWS = 1200  # Above the 653 values that a window of 50, the 60/10/15/15 split and 50 evaluation steps need.


def rows(values: list[str]) -> bytes:
    return ("value\n" + "\n".join(values) + "\n").encode()


def ramp(count: int) -> list[str]:
    return [str(index) for index in range(count)]


# test_training_cli.py and test_training_data.py cover empty files, a header
# only, a missing column, non-numeric cells, a constant series and a short
# series. These are the cases they leave out.
BAD_FILES = [
    pytest.param(
        rows(ramp(7) + ["2e30"] + ramp(ROWS)),
        "data row 8 (line 9 of {path}), column 'value': '2e30' is outside the supported range of ±1e+30",
        id="value-above-1e30",
    ),
    pytest.param(
        rows(ramp(7) + ["-1e31"] + ramp(ROWS)),
        "data row 8 (line 9 of {path}), column 'value': '-1e31' is outside the supported range of ±1e+30",
        id="value-below-minus-1e30",
    ),
    pytest.param(
        b"value\n1\n2\n\xe9t\xe9\n",
        "line 4 of {path}: invalid UTF-8 (byte 0xe9 at offset 10); save the file as UTF-8",
        id="latin-1-file",
    ),
    pytest.param(
        rows(["1.5"] * ROWS),
        "column 'value' of {path}: the training part (values 1 to 720) is constant at 1.5 (zero standard deviation); "
        "scaling needs a standard deviation above 1.79e-07",
        id="constant-series",
    ),
    pytest.param(
        rows(["1.0000000001", "1.0000000002"] * (ROWS // 2)),
        "column 'value' of {path}: the training part (values 1 to 720) is constant at 1.00000000015 "
        "(standard deviation 5e-11); scaling needs a standard deviation above 1.19e-07",
        id="constant-at-float32-precision",
    ),
    pytest.param(
        rows(ramp(652)),
        "column 'value' of {path}: series has 652 values, but a window of 50 values, a 60/10/15/15 split "
        "and 50 evaluation steps need at least 653 values",
        id="one-value-too-short",
    ),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_training_rejects_bad_csv(tmp_path: Path, content: bytes, message: str) -> None:
    # Resolved, because messages about the whole series name the resolved path.
    csv_path = tmp_path.resolve() / "series.csv"
    csv_path.write_bytes(content)
    model_dir = tmp_path / "model"

    completed = subprocess.run(
        [sys.executable, "-m", "training", "--csv", str(csv_path), "--column", "value", "--model-dir", str(model_dir)],
        cwd=ROOT, env=quiet_environment(), capture_output=True, text=True, timeout=120,
    )

    assert completed.returncode == EXIT_INPUT_ERROR
    assert completed.stderr.strip().splitlines()[-1] == "error: " + message.format(path=csv_path)
    assert not model_dir.exists()
