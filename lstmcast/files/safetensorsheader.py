"""A safetensors file recognised by its header before safetensors reads it: an 8-byte little-endian length, then a
JSON object. Never by a magic byte (a valid header whose length starts with 0x80 is still safetensors); anything
else is named for what it is (empty, a Git LFS pointer, a pickle, truncated) with the caller's remedy."""

from __future__ import annotations

import json
import os
import stat
import struct
from pathlib import Path

from lstmcast.errors import LstmcastError, ModelFileError

MAX_HEADER = 100 * 2**20  # safetensors' own limit on the JSON header


def check_header(path: Path, *, expected: str = "safetensors weights written by `lstmcast train`",
                 remedy: str = "retrain or copy the run again",
                 missing: str = "missing; is this a run directory written by `lstmcast train`?",
                 error: type[LstmcastError] = ModelFileError) -> None:
    """Refuse, with a message saying what the file is, anything that is not a regular file with a valid header."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: a directory; expected {expected}")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: not a regular file (a device, FIFO or socket); expected {expected}")
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            length = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            valid = 2 <= length <= min(MAX_HEADER, info.st_size - 8)
            header = handle.read(length) if valid else b""
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
    if not (valid and _json_object(header)):
        raise error(_what_it_is(path, head, info.st_size, expected, remedy))


def _json_object(header: bytes) -> bool:
    try:
        return isinstance(json.loads(header), dict)
    except (ValueError, RecursionError):
        return False


def _what_it_is(path: Path, head: bytes, size: int, expected: str, remedy: str) -> str:
    if size == 0:
        return f"{path}: the file is empty; {remedy}"
    if head.startswith(b"version "):
        return f"{path}: a Git LFS pointer, not the file itself; run `git lfs pull` to fetch it"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") or head.startswith(b"PK\x03\x04"):
        return (f"{path}: a pickle or torch archive, which lstmcast never loads (it can run code); only {expected} "
                "is accepted")
    return f"{path}: not a valid safetensors file (truncated or corrupt); {remedy}"
