"""Deterministic fault injection for the reliability tests (never set in normal use).

LSTMCAST_FAULT="POINT:ACTION[:N]" fires ACTION the N-th time (default 1st) the code passes POINT.
Actions: raise (RuntimeError), kill (SIGKILL, as a power cut would), enospc (a full disk), sigint, sigterm,
sigint2 (two Ctrl-Cs in a row), sleep (hold still for a minute, so a test can act meanwhile), nan (the caller turns
its value into NaN). LSTMCAST_FAULT_RANK=R fires it on torchrun's rank R only.
"""

from __future__ import annotations

import errno
import os
import signal
import time

_SPEC = os.environ.get("LSTMCAST_FAULT", "")
if os.environ.get("LSTMCAST_FAULT_RANK", os.environ.get("RANK", "0")) != os.environ.get("RANK", "0"):
    _SPEC = ""  # another rank's fault
_hits: dict[str, int] = {}


def hit(point: str) -> str | None:
    """Called at a named point; returns the action when it fires there (after performing it, for most actions)."""
    if not _SPEC or not _SPEC.startswith(point + ":"):
        return None
    parts = _SPEC.split(":")
    action, nth = parts[1], int(parts[2]) if len(parts) > 2 else 1
    _hits[point] = _hits.get(point, 0) + 1
    if _hits[point] != nth:
        return None
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if action == "raise":
        raise RuntimeError(f"injected fault at {point}")
    if action in ("sigint", "sigint2"):
        for _ in range(2 if action == "sigint2" else 1):
            os.kill(os.getpid(), signal.SIGINT)
    if action == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
    if action == "sleep":
        time.sleep(60)
    return action
