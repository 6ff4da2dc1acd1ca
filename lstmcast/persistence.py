"""Run directories and output files: safe formats only (safetensors, YAML, JSON, CSV), every write atomic."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from lstmcast import faults
from lstmcast.errors import ModelFileError, OutputError

FORMAT_VERSION = 1
MODEL_FILE, CONFIG_FILE, META_FILE, HISTORY_FILE = "model.safetensors", "config.yaml", "meta.json", "history.csv"
CHECKPOINT_FILE = "checkpoint.safetensors"  # inside RUN.partial/: the state to resume from
TMP_MARK = ".tmp-"


def _temp_sibling(final: Path) -> Path:
    return final.with_name(f".{final.name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def sweep_leftovers(directory: Path) -> None:
    """Remove temporary siblings left by killed processes (their pid is gone)."""
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if not entry.name.startswith(".") or TMP_MARK not in entry.name:
            continue
        pid = entry.name.rsplit(TMP_MARK, 1)[1].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _existing_ancestor(path: Path) -> Path:
    probe = path.parent if str(path.parent) else Path(".")
    while not probe.exists():
        probe = probe.parent
    return probe


def check_writable(final: Path, *, force: bool) -> None:
    """Refuse early: an existing output without --force, or a parent that is not a writable directory."""
    if final.exists() and not force:
        raise OutputError(f"{final} already exists; pass --force to replace it, or choose another path")
    probe = _existing_ancestor(final)
    if not probe.is_dir():
        raise OutputError(f"cannot write {final}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK):
        raise OutputError(f"cannot write {final}: {probe} is not writable")


def check_free_space(final: Path, size: int, *, hint: str) -> None:
    """Refuse before writing anything when the file system cannot hold `size` bytes."""
    probe = _existing_ancestor(final)
    free = shutil.disk_usage(probe).free
    if size > free:
        raise OutputError(f"{final} needs about {size / 2**20:,.0f} MiB but {probe} has {free / 2**20:,.0f} MiB free; "
                          f"{hint}")


@contextlib.contextmanager
def atomic_path(final: Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling to write; on success fsync it and rename it over `final` in one step."""
    check_writable(final, force=force)
    final.parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(final.parent)
    temp = _temp_sibling(final)
    try:
        with translate_os_errors(final):
            yield temp
            faults.hit("before-rename")
            _fsync(temp)
            if final.is_dir() and temp.is_dir():
                _replace_dir(temp, final)
            else:
                os.replace(temp, final)
            _fsync_dir(final.parent)
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True) if temp.is_dir() else temp.unlink(missing_ok=True)


def promote_dir(built: Path, final: Path, *, force: bool) -> None:
    """Rename a completely written directory into place in one step (replacing `final` only with force)."""
    check_writable(final, force=force)
    with translate_os_errors(final):
        _fsync(built)
        faults.hit("before-rename")
        if final.exists():
            _replace_dir(built, final)
        else:
            os.replace(built, final)
        _fsync_dir(final.parent if str(final.parent) else Path("."))


def _replace_dir(new: Path, final: Path) -> None:
    old = _temp_sibling(final)
    os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def translate_os_errors(target: Path) -> Iterator[None]:
    """OS errors while writing `target` become one OutputError naming it (a full disk says so plainly)."""
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise OutputError(f"cannot write {target}: the disk is full; free some space and run again "
                              "(nothing was replaced)") from None
        if exc.errno in {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR}:
            raise OutputError(f"cannot write {target}: {exc.strerror}") from None
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None


def _fsync(path: Path) -> None:
    paths = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    for item in paths:
        with open(item, "rb") as handle:
            os.fsync(handle.fileno())


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path: Path, text: str, *, force: bool = False) -> None:
    with atomic_path(path, force=force) as temp:
        temp.write_text(text, encoding="utf-8")


def write_json(path: Path, data: Any, *, force: bool = False) -> None:
    write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n", force=force)


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], *, metadata: dict[str, str] | None = None,
                 force: bool = True) -> None:
    with atomic_path(path, force=force) as temp:
        try:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(temp), metadata=metadata)
        except SafetensorError as exc:  # safetensors reports I/O failures in its own type
            raise OSError(errno.ENOSPC if "os error 28" in str(exc) else errno.EIO, str(exc)) from None
        faults.hit(f"wrote-{path.name}")


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a safetensors file; anything else (pickle, torch zip, LFS pointer, truncated) is refused unread."""
    try:
        head = path.open("rb").read(64)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: missing; is this a run directory written by `lstmcast train`?") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror})") from None
    _refuse_foreign(path, head)
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: not a valid safetensors file ({exc}); retrain or copy the run again") from None


def _refuse_foreign(path: Path, head: bytes) -> None:
    if not head:
        raise ModelFileError(f"{path}: the file is empty; retrain or copy the run again")
    if head.startswith(b"version https://git-lfs"):
        raise ModelFileError(f"{path}: a Git LFS pointer, not the weights; run `git lfs pull` to fetch the file")
    if head.startswith(b"\x80") or head.startswith(b"PK\x03\x04"):
        raise ModelFileError(
            f"{path}: a pickle or torch archive, which lstmcast never loads (it can run code); "
            "only safetensors weights written by `lstmcast train` are accepted"
        )


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: missing; is this a run directory written by `lstmcast train`?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: unreadable or corrupt JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: expected a JSON object")
    return data


def check_run_dir(run_dir: Path) -> dict[str, Any]:
    """Validate a run directory's layout and format version; return its metadata."""
    if not run_dir.is_dir():
        partial = run_dir.with_name(run_dir.name + ".partial")
        hint = f" ({partial} holds an unfinished run: resume it with `lstmcast train --resume {run_dir}`)" \
            if partial.is_dir() else ""
        raise ModelFileError(f"{run_dir}: no such run directory{hint}")
    meta = read_json(run_dir / META_FILE)
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{run_dir / META_FILE}: run format version {version!r} is not supported by this lstmcast "
            f"(it reads version {FORMAT_VERSION}); retrain with this version"
        )
    return meta
