"""Publish model versions atomically under MODEL_DIR/NAME/<integer>/.

A version is written into a private staging directory whose name starts with
a dot, then renamed to the next free integer, so a reader never sees a
half-written version. Names that are not integers are ignored.

A staging directory is named `.tmp-<host>-<pid>-<hex>`. A run killed with
SIGKILL cannot remove its own, so each new run removes the staging
directories that a process on the same host left behind and that no longer
runs. A directory of another host (a shared volume, another container), whose
process this host cannot check, is removed once nothing in it has changed for
ABANDONED_AFTER_SECONDS. Names of any other form are kept.
"""

import contextlib
import errno
import logging
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

STAGING_PREFIX = ".tmp-"
_VERSION_NAME = re.compile(r"[0-9]+")
_STAGING_NAME = re.compile(r"\.tmp-(?P<host>[A-Za-z0-9_]+)-(?P<pid>[0-9]+)-[0-9a-f]{32}")
_MAX_PUBLISH_ATTEMPTS = 100
# A live run writes its staging directory within seconds to minutes, so an hour
# without a change means the run that owns it is gone.
ABANDONED_AFTER_SECONDS = 3600


def existing_versions(model_root: Path) -> list[int]:
    """Return the integer version numbers of the directories under model_root, sorted."""
    if not model_root.is_dir():
        return []
    versions = [
        int(entry.name)
        for entry in model_root.iterdir()
        if _VERSION_NAME.fullmatch(entry.name) and entry.is_dir()
    ]
    return sorted(versions)


def next_version(model_root: Path) -> int:
    """Return one more than the highest existing version, or 1 when there is none."""
    versions = existing_versions(model_root)
    return versions[-1] + 1 if versions else 1


@contextlib.contextmanager
def staging_directory(model_root: Path) -> Iterator[Path]:
    """Create a hidden staging directory under model_root and remove it on any failure.

    After a successful publish() the directory no longer exists under its
    staging name, so there is nothing left to remove.
    """
    model_root.mkdir(parents=True, exist_ok=True)
    remove_abandoned_staging(model_root)
    staging = model_root / f"{STAGING_PREFIX}{host_label()}-{os.getpid()}-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        logger.info("removed staging directory %s after a failure", staging)
        raise


def host_label() -> str:
    """Return this host's name with every character other than a letter or digit replaced by '_'."""
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname()) or "_"


def remove_abandoned_staging(model_root: Path) -> None:
    """Remove the staging directories under model_root that no running training process owns.

    On this host, that is a directory whose process no longer runs. From another
    host, it is one in which nothing changed for ABANDONED_AFTER_SECONDS.
    """
    for entry in model_root.iterdir():
        match = _STAGING_NAME.fullmatch(entry.name)
        if match is None or not entry.is_dir():
            continue

        pid = int(match["pid"])
        if match["host"] == host_label():
            if not process_exists(pid):
                shutil.rmtree(entry, ignore_errors=True)
                logger.info("removed staging directory %s left by process %d, which no longer runs", entry, pid)
            continue

        idle_seconds = time.time() - last_change(entry)
        if idle_seconds > ABANDONED_AFTER_SECONDS:
            shutil.rmtree(entry, ignore_errors=True)
            logger.info("removed staging directory %s of host %s, unchanged for %.0f s", entry, match["host"], idle_seconds)


def last_change(directory: Path) -> float:
    """Return the latest modification time of the directory and everything in it."""
    times = [directory.stat().st_mtime]
    for path in directory.rglob("*"):
        with contextlib.suppress(FileNotFoundError):
            times.append(path.lstat().st_mtime)
    return max(times)


def process_exists(pid: int) -> bool:
    """Return whether a process with this id runs on this host (or in this PID namespace)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # It exists, but belongs to another user.
        return True
    return True


def publish(staging: Path, model_root: Path, prepare: Callable[[int], None]) -> tuple[int, Path]:
    """Rename the staging directory to the next free version number and return it with its path.

    `prepare(version)` runs before each rename attempt so that files that
    record the version number can be rewritten when another writer takes
    that number first.
    """
    candidate = next_version(model_root)
    for _ in range(_MAX_PUBLISH_ATTEMPTS):
        candidate = max(candidate, next_version(model_root))
        target = model_root / str(candidate)
        prepare(candidate)
        if not target.exists() and _rename_if_absent(staging, target):
            logger.info("published version %d at %s", candidate, target)
            return candidate, target
        logger.info("version %d appeared meanwhile; trying the next number", candidate)
        candidate += 1

    raise RuntimeError(f"could not publish {staging} under {model_root} after {_MAX_PUBLISH_ATTEMPTS} attempts")


def _rename_if_absent(source: Path, target: Path) -> bool:
    # NOTE: POSIX rename() silently replaces an empty directory at the target. The
    # exists() check before this call narrows that window, and published
    # versions are never empty, so only a foreign empty directory is at risk.
    try:
        os.rename(source, target)
    except OSError as error:
        if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
            return False
        raise
    return True
