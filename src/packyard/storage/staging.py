"""Files on their way into a packages directory: hidden, locked temporary files, and
the link that publishes one under its final name.

Written once here and used by the directory backend of the Repository (uploads) and by
``pypi-server update`` (downloads). A staged file has a name starting with
``.packyard-upload-``: never listed or watched, and removed at start-up by
``cleanup_staging`` when a crash left it behind (its lock tells a live writer apart).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import time
from typing import IO

STAGING_PREFIX = ".packyard-upload-"
STALE_AFTER = 60.0  # seconds without a write, where files cannot be locked


def staging_name(directory: str) -> str:
    """A new hidden temporary name in ``directory``."""
    return os.path.join(directory, STAGING_PREFIX + secrets.token_hex(8) + ".tmp")


def open_staging(directory: str) -> tuple[str, IO[bytes]]:
    """A new hidden temporary file in ``directory`` for a file on its way in (an
    upload, or a download by ``pypi-server update``), open for writing.

    The file is locked (flock) while it is open: the lock dies with the process, so
    ``cleanup_staging`` can tell a file left by a crash from one still being written.
    Created with mode 0644 (less what the umask removes), never world-writable.
    """
    path = staging_name(directory)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with contextlib.suppress(OSError):  # a file system without locks: see cleanup
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return path, open(fd, "wb")
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def link_new(staged: str, target: str) -> bool:
    """Give the staged file its final name, never replacing a file: False when the
    name is taken (exactly one of two racing writers wins, also across processes).
    Raises OSError when the link cannot be made."""
    try:
        os.link(staged, target)
    except FileExistsError:
        return False
    return True


def cleanup_staging(directory: str, stale_after: float = STALE_AFTER) -> int:
    """Remove temporary files left by a crash (a killed upload or update); returns
    how many.

    A file still being written is locked by its writer (see ``open_staging``), also
    when that writer is another process serving the same directory: such files are
    left alone. Where the file system has no locks, only files not written to for
    ``stale_after`` seconds are removed.
    """
    removed = 0
    cutoff = time.time() - stale_after
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(STAGING_PREFIX) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its writer is alive
            except OSError:
                if os.fstat(fd).st_mtime > cutoff:
                    continue
            os.unlink(entry.path)
            removed += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed
