"""A worker's CPU priority below the web's, so that a clinician's click waits less behind a batch.

On a host where web and workers share the cores (`make run`, the Procfile, one small server), a
500-image batch keeps the inference worker busy for minutes; at equal priority Linux gives it half the
CPU while clinicians browse, and their requests wait for it. With the worker at a higher nice value the
scheduler runs a web request first whenever both want a core; when nobody browses the worker still gets
every idle cycle (`bench/worker_priority.py` measures both, interleaved: the batch alone showed no
consistent difference).

Two Linux details decide whether a nice value has any effect:
- **Autogroups** (`/proc/sys/kernel/sched_autogroup_enabled`, on by default on most distributions):
  processes are scheduled per session first, and nice only weighs processes of one session against each
  other. honcho (`make run`) starts each process in a session of its own, so the worker also lowers its
  session's weight (`/proc/self/autogroup`), but only when that session holds nothing but the worker:
  when the worker leads it, or when its parent does (a `sh -c` wrapper, as honcho starts each Procfile
  line). A worker started from an interactive shell leaves that shell's session alone.
- **Containers and systemd units** are separate cgroups, where neither reaches across: docker-compose
  gives the workers a lower `cpu_shares` instead (docker-compose.yml), a unit `CPUWeight=` (docs/deploy.md).

Raising one's own nice value needs no privilege; lowering it back would, so this is done once, at start.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

AUTOGROUP = Path("/proc/self/autogroup")


@dataclass(frozen=True)
class CpuPriority:
    nice: int
    autogroup_nice: int | None  # None: autogroups are off, or the session is not the worker's own

    def describe(self) -> str:
        group = "left alone" if self.autogroup_nice is None else str(self.autogroup_nice)
        return f"nice {self.nice}, session autogroup {group}"


def cpu_priority_lower(*, nice: int) -> CpuPriority:
    """Raise this process's nice value (and its own session's) to `nice`; never lowers either.

    Threads and processes started afterwards (the prefork pool, ONNX Runtime's threads) inherit it."""
    nice = max(0, min(19, nice))
    if nice > os.getpriority(os.PRIO_PROCESS, 0):
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    return CpuPriority(nice=os.getpriority(os.PRIO_PROCESS, 0), autogroup_nice=_autogroup_lower(nice))


def _autogroup_lower(nice: int) -> int | None:
    if not _session_is_ours():
        return None
    try:
        current = _autogroup_nice()
        if current is None:
            return None
        if nice > current:
            _autogroup_write(nice)
        return _autogroup_nice()
    except OSError:  # autogroups compiled out, or a read-only /proc (a hardened container)
        return None


def _autogroup_write(nice: int) -> None:
    # Without CAP_SYS_ADMIN the kernel takes one autogroup change per 100 ms, machine-wide (EAGAIN).
    for attempt in range(5):
        try:
            AUTOGROUP.write_text(str(nice))
            return
        except BlockingIOError:
            if attempt == 4:
                raise
            time.sleep(0.11)


def _session_is_ours() -> bool:
    session = os.getsid(0)
    if session == os.getpid():
        return True
    # honcho's `sh -c "celery …"`: the wrapper leads a session made for this one command.
    return session == os.getppid() and _runs_one_command(session)


def _runs_one_command(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return Path(argv[0].decode(errors="replace")).name in ("sh", "dash", "bash") and b"-c" in argv[1:]


def _autogroup_nice() -> int | None:
    if not AUTOGROUP.exists():
        return None
    # "/autogroup-123 nice 0"
    text = AUTOGROUP.read_text().split()
    return int(text[-1]) if len(text) >= 3 and text[-2] == "nice" else None
