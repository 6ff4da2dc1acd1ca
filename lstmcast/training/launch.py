"""`lstmcast train --nproc N`: torchrun's own elastic agent starts N copies of the same command on this machine
(what `torchrun --standalone --nproc_per_node N -m lstmcast train ...` does), watches them, and stops the others
when one fails. This module only starts it and says what happened."""

from __future__ import annotations

import logging
import os
import signal
import sys
import uuid
from dataclasses import dataclass
from typing import Optional


MONITOR_S = 0.2  # how often the agent looks at its ranks: a dead rank is noticed within this


@dataclass
class Launched:
    exit_code: int  # 0, a rank's own exit code, or 128 + a signal's number
    failed_rank: Optional[int] = None
    pid: Optional[int] = None
    signal_name: Optional[str] = None  # the rank was killed by this signal (it printed nothing)


def launch(arguments: list[str], nproc: int) -> Launched:
    """Run `python -m lstmcast ARGUMENTS` as N ranks; each process gets cores // N threads unless OMP_NUM_THREADS
    says otherwise."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    for name in [name for name in logging.root.manager.loggerDict if name.startswith("torch.distributed")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)  # the agent's warnings and tracebacks are not for users
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", max_restarts=0,
                          monitor_interval=MONITOR_S)
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "lstmcast", *arguments)
    except ChildFailedError as failed:
        rank, failure = _cause(failed.failures)
        if failure.exitcode < 0:
            return Launched(128 - failure.exitcode, rank, failure.pid, signal.Signals(-failure.exitcode).name)
        return Launched(failure.exitcode, rank, failure.pid)
    except SignalException as stopped:  # Ctrl-C or kill: the agent passed the signal on and waited for the ranks
        return Launched(128 + int(stopped.sigval))
    return Launched(0)


def _cause(failures: dict) -> tuple[int, object]:
    """The rank whose failure caused the others': one that ended with its own error (it printed why), else one
    killed by a signal other than the SIGTERM the agent sends the rest, else the first. Exit 8 (lost contact) and
    143 (the agent's SIGTERM, handled) are consequences."""
    ranked = sorted(failures.items(), key=lambda item: item[1].timestamp)
    own = [item for item in ranked if item[1].exitcode > 0 and item[1].exitcode not in (8, 143)]
    crashed = [item for item in ranked if item[1].exitcode < 0 and -item[1].exitcode != signal.SIGTERM]
    return (own or crashed or ranked)[0]
