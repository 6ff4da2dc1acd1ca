"""Bounded reads of regular files only: a run directory someone sent you may name /dev/zero, a FIFO or /proc."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Callable, Optional

from lstmcast.errors import LstmcastError

MiB = 2**20


def read_regular(path: Path, *, limit: int, error: type[LstmcastError], missing: str) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; anything else is refused with `error`.

    Opened non-blocking so a FIFO cannot hang the command; a file that yields more bytes than its size says (the
    pseudo-files of /proc and /sys) is refused too."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
    except ValueError:  # a NUL in the path
        raise error(f"{str(path)[:200]!r}: not a valid path") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path}: not a regular file ({_kind(info.st_mode)}); lstmcast reads only regular files")
        if info.st_size > limit:
            raise error(f"{path}: {info.st_size / MiB:,.0f} MiB, more than the {limit / MiB:,.0f} MiB lstmcast reads "
                        "here; is this the right file?")
        chunks, total = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            total += len(chunk)
            if total > info.st_size:
                raise error(f"{path}: yields more bytes than its size says (a /proc or device file?); "
                            "lstmcast reads only regular files")
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a plain file"


def peek_regular(path: Path, *, limit: int) -> Optional[bytes]:
    """The bytes of a small regular file, or None for anything else: for recognising outputs, where a FIFO, a device
    or a huge file simply is not ours (and must not hang or exhaust the command)."""
    try:
        return read_regular(path, limit=limit, error=LstmcastError, missing="missing")
    except LstmcastError:
        return None


def peek_json(path: Path, *, limit: int) -> Optional[dict]:
    """A small regular file's JSON object, or None for anything else (what recognising an output needs)."""
    raw = peek_regular(path, limit=limit)
    try:
        data = json.loads(raw) if raw is not None else None
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def holds_only(directory: Path, allowed: Callable[[str], bool]) -> bool:
    """True when every entry of `directory` is a file (or a link, which removing leaves its target alone) with an
    `allowed` name: --force removes a directory only when it holds nothing lstmcast did not write (a note, a .git,
    or a folder that took one of our names is the user's, and is not ours to delete; lstmcast's outputs are flat)."""
    try:
        return all(allowed(entry.name) and (entry.is_symlink() or not entry.is_dir()) for entry in directory.iterdir())
    except OSError:
        return False
