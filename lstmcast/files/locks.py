"""One writer per output: an exclusive `flock` on a lock file beside it, naming its holder.

flock works across processes and PID namespaces on one kernel (and on NFS, where Linux maps it to byte-range locks),
so no liveness is ever judged by a process id. Re-entrant within a process: the train workflow holds its run's lock
while the atomic writes inside it take it again."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import time
from pathlib import Path
from typing import Callable, Iterator

from lstmcast.errors import OutputError

LOCK_MARK = ".lstmcast-lock"
_held: dict[Path, int] = {}  # lock path -> depth, for re-entrant use inside one process


def lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}{LOCK_MARK}"


@contextlib.contextmanager
def output_lock(target: Path, *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the exclusive lock of `target` (a run, dump, report or file) for the duration of the block; a holder is
    waited for up to `wait_s` seconds (0: refused at once)."""
    path = lock_path(target)
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    fd = _acquire(path, target, wait_s)
    _held[path] = 1
    try:
        yield
    finally:
        del _held[path]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # unlink while still holding it: a waiter re-checks the inode and retries
        os.close(fd)


def _acquire(path: Path, target: Path, wait_s: float) -> int:
    deadline = time.monotonic() + wait_s
    while True:
        fd = _open(path, target)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            if time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise OutputError(
                f"{target} is being written by another lstmcast ({holder}); wait for it to finish or stop it, "
                "then run this command again"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous holder removed the file between our open and flock: take the new one
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%H:%M:%S')}".encode(), 0)
    return fd


def held_elsewhere(target: Path) -> bool:
    """Whether another process holds `target`'s lock now. A lock dies with its process, kill -9 included, so a
    free lock on work marked as running means its process is gone. The probe writes and removes nothing (a holder
    that meets it mid-probe waits it out with `wait_s`)."""
    path = lock_path(target)
    if _held.get(path):
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: assume alive
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@contextlib.contextmanager
def shared_lock(target: Path, *, exclusive_first: bool = False) -> Iterator[Callable[[], None]]:
    """A lock several processes hold together while they work on `target` (a sweep), beside it. With
    `exclusive_first` it is taken alone first (refused while anyone holds it), for --force, which must not delete
    what another process is using; the block calls the yielded function to share it from then on."""
    fd = _open(target.parent / f".{target.name}.lstmcast-shared-lock", target)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive_first else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(
                f"{target} is in use by another lstmcast process" + (" (--force would delete its work); stop it "
                "first" if exclusive_first else " replacing it with --force; wait for that to finish") +
                ", then run this command again") from None
        yield lambda: fcntl.flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)


def _open(path: Path, target: Path) -> int:
    """A lock file's descriptor, created with its directory if need be; errors name the output."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(f"cannot write {target}: a part of {path.parent} is a file, not a directory") from None
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror} ({path.parent})") from None
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OutputError(f"{path} is a symbolic link; remove it (lstmcast's lock files are plain files)") from None
        raise OutputError(f"cannot lock {target}: {exc.strerror} ({path})") from None
