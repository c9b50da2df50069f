"""Publish model versions atomically under MODEL_DIR/NAME/<integer>/.

A version is written into a private staging directory whose name starts with
a dot, then renamed to the next free integer, so a reader never sees a
half-written version. Names that are not integers are ignored.
"""

import contextlib
import errno
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

STAGING_PREFIX = ".tmp-"
_VERSION_NAME = re.compile(r"[0-9]+")
_MAX_PUBLISH_ATTEMPTS = 100


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
    staging = model_root / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        logger.info("removed staging directory %s after a failure", staging)
        raise


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
