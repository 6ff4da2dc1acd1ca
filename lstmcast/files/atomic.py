"""Atomic outputs: a fresh temporary sibling (O_EXCL, via tempfile), fsync, one rename into place.

Every output is locked for its writer (files.locks), so the only temporaries of NAME that can exist while we hold
NAME's lock are leftovers of killed writers of NAME: they are unmistakably ours (`.NAME.lstmcast-tmp-*`) and swept
then; nothing else is ever removed. `--force` replaces only an output that the caller recognises as lstmcast's own,
and a replaced directory goes aside under a fixed name first, so a kill between the two renames is rolled back on
the next write (all or nothing)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Optional

from lstmcast import __version__, faults
from lstmcast.errors import OutputError
from lstmcast.files.locks import output_lock
from lstmcast.files.reading import peek_json

TEMP_MARK = ".lstmcast-tmp-"
OLD_MARK = ".lstmcast-old"
MARKER = ".lstmcast"  # inside every directory lstmcast writes: {"kind": ..., "lstmcast_version": ...}
_UMASK = os.umask(0o022)
os.umask(_UMASK)

Recogniser = Callable[[Path], bool]
FULL_DISK_ADVICE = "; free some space and run the command again"


def absolute(path: Path) -> Path:
    """An absolute path with `.` and `..` resolved (the parent may not exist yet); refuses `/`."""
    resolved = Path(os.path.abspath(path))
    if resolved.parent == resolved:
        raise OutputError(f"cannot write to {resolved}: choose a path inside a directory")
    return resolved


def write_marker(directory: Path, kind: str) -> None:
    (directory / MARKER).write_text(json.dumps({"kind": kind, "lstmcast_version": __version__}) + "\n")


def marker_kind(directory: Path) -> Optional[str]:
    data = peek_json(directory / MARKER, limit=4096)
    return data.get("kind") if data is not None else None


@contextlib.contextmanager
def atomic_output(final: Path, *, force: bool, what: str, recognise: Recogniser, directory: bool = False,
                  suffix: str = "") -> Iterator[Path]:
    """Yield a new temporary file (or directory) beside `final`; on success move it into place in one step."""
    final = absolute(final)
    with output_lock(final):
        _recover(final)
        check_output(final, force=force, what=what, recognise=recognise)
        _sweep(final)
        with translate_os_errors(final):
            final.parent.mkdir(parents=True, exist_ok=True)
            temp = _make_temp(final, directory=directory, suffix=suffix)
        try:
            with translate_os_errors(final):
                yield temp
                faults.hit("before-rename")
                if temp.is_file():  # some writers replace the file tempfile made (and its permissions)
                    temp.chmod(0o666 & ~_UMASK)
                _fsync_tree(temp)
                _install(temp, final)
                _fsync_dir(final.parent)
        finally:
            remove(temp)


def check_replaceable(final: Path, *, force: bool, what: str, recognise: Recogniser) -> None:
    """An existing output is replaced only with --force, and only when it is lstmcast's own `what`."""
    if not (final.exists() or final.is_symlink()):
        return
    if final == Path.cwd() or final in Path.cwd().parents:
        raise OutputError(f"{final} is the working directory or holds it; choose a new path for the output")
    if not force:
        raise OutputError(f"{final} already exists; pass --force to replace it, or choose another path")
    if final.is_symlink():
        raise OutputError(f"{final} is a symbolic link; --force replaces only outputs lstmcast wrote itself")
    if final.is_dir() and not any(final.iterdir()):
        return
    if not recognise(final):
        extra = ", or holds files lstmcast did not write" if final.is_dir() else ""
        raise OutputError(
            f"{final} is not {what} written by lstmcast{extra}, so --force will not replace it (it replaces only "
            "lstmcast's own outputs); move it away yourself or choose another path"
        )


def check_output(path: Path, *, force: bool, what: str, recognise: Recogniser) -> None:
    """Before any work: `path` may be written (replaceable, in a writable directory)."""
    final = absolute(path)
    check_replaceable(final, force=force, what=what, recognise=recognise)
    check_parent(final)


def check_parent(final: Path) -> None:
    """Refuse early when the output's parent cannot be a writable directory."""
    probe = existing_ancestor(final)
    if not probe.is_dir():
        raise OutputError(f"cannot write {final}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {final}: {probe} is not writable")


def existing_ancestor(path: Path) -> Path:
    probe = path.parent
    while not probe.exists():
        probe = probe.parent
    return probe


def check_free_space(final: Path, size: int, *, hint: str) -> None:
    """Refuse before writing anything when the file system cannot hold `size` bytes."""
    probe = existing_ancestor(final)
    free = shutil.disk_usage(probe).free
    if size > free:
        raise OutputError(f"{final} needs about {size / 2**20:,.0f} MiB but {probe} has {free / 2**20:,.0f} MiB free; "
                          f"{hint}")


@contextlib.contextmanager
def translate_os_errors(target: Path) -> Iterator[None]:
    """OS errors while writing `target` become one OutputError naming it (a full disk says so plainly)."""
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise OutputError(f"cannot write {target}: the disk is full (nothing was replaced)"
                              f"{FULL_DISK_ADVICE}") from None
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def promote(built: Path, final: Path, *, force: bool, what: str, recognise: Recogniser) -> None:
    """Move a completely written directory (a run built in RUN.partial) into place in one step."""
    final = absolute(final)
    with output_lock(final), translate_os_errors(final):
        _recover(final)
        check_replaceable(final, force=force, what=what, recognise=recognise)
        _fsync_tree(built)
        faults.hit("before-rename")
        _install(built, final)
        _fsync_dir(final.parent)


def inside(path: Path) -> contextlib.AbstractContextManager[Path]:
    """Atomic replacement of a file inside a directory this process is building (RUN.partial)."""
    return atomic_output(path, force=True, what="a file", recognise=Path.is_file, suffix=path.suffix)


def write_text(path: Path, text: str, *, force: bool, what: str, recognise: Recogniser) -> None:
    with atomic_output(path, force=force, what=what, recognise=recognise, suffix=path.suffix) as temp:
        temp.write_text(text, encoding="utf-8")


def _make_temp(final: Path, *, directory: bool, suffix: str) -> Path:
    prefix = f".{final.name}{TEMP_MARK}"
    if directory:
        temp = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=final.parent))
        temp.chmod(0o777 & ~_UMASK)
        return temp
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=final.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)
    os.close(fd)
    return Path(name)


def _sweep(final: Path) -> None:
    """Remove leftovers of killed writers of `final` (only its own marked temporaries; we hold its lock)."""
    prefix = f".{final.name}{TEMP_MARK}"
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in final.parent.iterdir():
            if entry.name.startswith(prefix):
                remove(entry)


def _install(temp: Path, final: Path) -> None:
    if not (temp.is_dir() or final.is_dir()):
        os.replace(temp, final)  # one rename, even over an existing file
        return
    old = final.with_name(f".{final.name}{OLD_MARK}")
    if final.exists():
        os.replace(final, old)
    faults.hit("between-renames")
    os.replace(temp, final)
    remove(old)


def recover(final: Path) -> None:
    """For readers: put back an output whose replacement was killed between its two renames."""
    final = absolute(final)
    if final.with_name(f".{final.name}{OLD_MARK}").exists():
        with output_lock(final):
            _recover(final)


def _recover(final: Path) -> None:
    """A replace killed between its renames left the old output aside: put it back (or drop it if the new one landed)."""
    old = final.with_name(f".{final.name}{OLD_MARK}")
    if not old.exists():
        return
    if final.exists():
        remove(old)
    else:
        os.replace(old, final)


def _fsync_tree(path: Path) -> None:
    paths = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    for item in paths:
        fd = os.open(item, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    if path.is_dir():
        _fsync_dir(path)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
