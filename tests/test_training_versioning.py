"""Version numbering and atomic publishing under MODEL_DIR/NAME."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from training.versioning import ABANDONED_AFTER_SECONDS, existing_versions, host_label, next_version, publish, staging_directory


def make_version(root: Path, name: str) -> Path:
    directory = root / name
    directory.mkdir(parents=True)
    (directory / "saved_model.pb").write_bytes(b"placeholder")
    return directory


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param([], 1, id="empty"),
        pytest.param(["1", "2"], 3, id="consecutive"),
        pytest.param(["1", "7", "3"], 8, id="gap"),
        pytest.param(["2", ".tmp-abc", "latest", "3.5", "v4", "-1"], 3, id="non-integer-names"),
    ],
)
def test_next_version_ignores_non_integer_names(tmp_path: Path, names: list[str], expected: int) -> None:
    for name in names:
        make_version(tmp_path, name)

    assert next_version(tmp_path) == expected


def test_existing_versions_ignores_integer_files(tmp_path: Path) -> None:
    make_version(tmp_path, "1")
    (tmp_path / "5").write_text("not a directory")

    assert existing_versions(tmp_path) == [1]


def test_existing_versions_missing_root_is_empty(tmp_path: Path) -> None:
    assert existing_versions(tmp_path / "absent") == []


def test_publish_renames_staging_to_next_version(tmp_path: Path) -> None:
    make_version(tmp_path, "1")

    with staging_directory(tmp_path) as staging:
        (staging / "saved_model.pb").write_bytes(b"model")
        version, path = publish(staging, tmp_path, lambda version: (staging / "version.txt").write_text(str(version)))

    assert version == 2
    assert path == tmp_path / "2"
    assert (path / "saved_model.pb").read_bytes() == b"model"
    assert (path / "version.txt").read_text() == "2"
    assert not staging.exists()


def test_publish_takes_next_number_when_target_appears(tmp_path: Path) -> None:
    log: list[int] = []

    with staging_directory(tmp_path) as staging:

        def prepare(version: int) -> None:
            log.append(version)
            (staging / "version.txt").write_text(str(version))
            if version == 1:
                make_version(tmp_path, "1")  # another writer wins the race for 1

        version, path = publish(staging, tmp_path, prepare)

    assert version == 2
    assert log == [1, 2]
    assert (path / "version.txt").read_text() == "2"


def test_staging_directory_is_hidden_and_removed_on_failure(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="simulated"):
        with staging_directory(tmp_path) as staging:
            assert staging.name.startswith(".tmp-")
            (staging / "partial").write_text("x")
            raise RuntimeError("simulated export failure")

    assert list(tmp_path.iterdir()) == []


def exited_process_id() -> int:
    """Return the id of a child process that has already exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_staging_removes_only_abandoned_directories(tmp_path: Path) -> None:
    dead_pid = exited_process_id()
    abandoned = make_version(tmp_path, f".tmp-{host_label()}-{dead_pid}-{uuid.uuid4().hex}")
    running = make_version(tmp_path, f".tmp-{host_label()}-{os.getpid()}-{uuid.uuid4().hex}")
    other_host = make_version(tmp_path, f".tmp-{host_label()}x-{dead_pid}-{uuid.uuid4().hex}")
    unknown_form = make_version(tmp_path, ".tmp-stray")

    with staging_directory(tmp_path) as staging:
        assert staging.name.startswith(f".tmp-{host_label()}-{os.getpid()}-")

    assert not abandoned.exists()
    assert running.exists()
    assert other_host.exists()
    assert unknown_form.exists()


def make_idle(directory: Path, seconds: float) -> None:
    idle_since = directory.stat().st_mtime - seconds
    for path in [directory, *directory.rglob("*")]:
        os.utime(path, (idle_since, idle_since))


def test_staging_removes_idle_foreign_directories(tmp_path: Path) -> None:
    idle = make_version(tmp_path, f".tmp-otherhost-{os.getpid()}-{uuid.uuid4().hex}")
    recent = make_version(tmp_path, f".tmp-otherhost-{os.getpid()}-{uuid.uuid4().hex}")
    idle_unknown_form = make_version(tmp_path, ".tmp-stray")
    make_idle(idle, ABANDONED_AFTER_SECONDS + 60)
    make_idle(recent, ABANDONED_AFTER_SECONDS - 60)
    make_idle(idle_unknown_form, ABANDONED_AFTER_SECONDS + 60)

    with staging_directory(tmp_path):
        pass

    assert not idle.exists()
    assert recent.exists()
    assert idle_unknown_form.exists()


def test_staging_keeps_recently_changed_directory(tmp_path: Path) -> None:
    staging = make_version(tmp_path, f".tmp-otherhost-{os.getpid()}-{uuid.uuid4().hex}")
    make_idle(staging, ABANDONED_AFTER_SECONDS + 60)
    (staging / "variables").mkdir()
    (staging / "variables" / "variables.index").write_bytes(b"written just now")
    os.utime(staging, (0, 0))

    with staging_directory(tmp_path):
        pass

    assert staging.exists()
