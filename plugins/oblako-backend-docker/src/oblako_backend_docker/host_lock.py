"""One process at a time, on this host, for a step the engine itself does not serialise.

Docker Engine 20.10 lets two concurrent creates make two networks of one name, and then
starts no container on either ("network ... is ambiguous"); its CheckDuplicate is best
effort and measured racy. An flock on a file of this user's is released when its holder
exits, however it exits, so a lock is never left behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from oblako_backends.errors import OblakoBackendError

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.05


def lock_directory() -> Path | None:
    """This user's lock directory, or None when it cannot be trusted (not a directory of
    this user's, e.g. something else already holds the name) or cannot be made."""
    uid = os.getuid()
    path = Path(tempfile.gettempdir()) / f"oblako-backends-{uid}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        found = path.lstat()
    except OSError as exc:
        log.debug("no lock directory at %s (%s): concurrent creates are resolved after the fact", path, exc)
        return None
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != uid or found.st_mode & 0o022:
        log.debug("%s is not a private directory of this user's: not used for locks", path)
        return None
    return path


@contextmanager
def held(key: str, deadline: float) -> Iterator[None]:
    """Hold this host's lock for `key` (e.g. an engine's address and a network's name) while
    the block runs; wait at most `deadline` s for another process to release it."""
    try:
        import fcntl
    except ImportError:  # Windows has no flock; the race is then resolved after the fact
        yield
        return
    directory = lock_directory()
    if directory is None:
        yield
        return
    path = directory / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:  # e.g. a symlink in its place: never followed, and no lock then
        log.debug("cannot open %s (%s): concurrent creates are resolved after the fact", path, exc)
        yield
        return
    try:
        end = time.monotonic() + deadline
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= end:
                    raise OblakoBackendError(
                        f"another oblako-backends process has held {path} for over {deadline:g} s while "
                        "creating the same thing on the same engine; let it finish (or stop it) and retry"
                    ) from None
                time.sleep(_POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # releases the lock
