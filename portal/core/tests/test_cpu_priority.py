"""A worker lowers its CPU priority (portal/core/cpu_priority.py).

Every case runs in a child process: a process cannot take a lowered priority back, and the test run
itself must not be slowed. The worker's own start-up is tested with a real worker in
classifier/tests/test_worker_integration.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
AUTOGROUP = Path("/proc/self/autogroup")

CHILD = """
import json, os, sys
from pathlib import Path
from portal.core.cpu_priority import cpu_priority_lower
got = cpu_priority_lower(nice=int(sys.argv[1]))
group = Path("/proc/self/autogroup")
print(json.dumps({
    "nice": got.nice,
    "autogroup_nice": got.autogroup_nice,
    "process_nice": os.getpriority(os.PRIO_PROCESS, 0),
    "autogroup_file": group.read_text().strip() if group.exists() else None,
}))
"""


def child(nice: int, *, wrapper: bool = False, **popen) -> dict:
    argv = [sys.executable, "-c", CHILD, str(nice)]
    if wrapper:
        # As honcho starts a Procfile line: `sh -c "…"` leading a session of its own; `; true` keeps sh
        # from exec'ing the command, so the wrapper stays the session's leader and the worker its child.
        argv = ["sh", "-c", " ".join(f"'{a}'" for a in argv) + "; true"]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True, **popen)
    return json.loads(out.stdout)


def test_a_worker_leading_its_own_session_lowers_its_nice_value_and_its_sessions_weight():
    got = child(10, start_new_session=True)

    assert got["nice"] == got["process_nice"] == 10
    if AUTOGROUP.exists():
        assert got["autogroup_nice"] == 10
        assert got["autogroup_file"].endswith(" nice 10")
    else:  # a kernel without autogroups: nice alone decides
        assert got["autogroup_nice"] is None


def test_a_one_command_shell_wrapper_session_counts_as_the_workers_own():
    got = child(7, wrapper=True, start_new_session=True)

    assert got["process_nice"] == 7
    if AUTOGROUP.exists():
        assert got["autogroup_file"].endswith(" nice 7")


def test_a_worker_sharing_another_session_leaves_that_sessions_weight_alone():
    before = AUTOGROUP.read_text() if AUTOGROUP.exists() else None

    got = child(10)  # in this test run's session, as a worker started from a terminal would be

    assert got["process_nice"] == 10
    assert got["autogroup_nice"] is None
    assert (AUTOGROUP.read_text() if AUTOGROUP.exists() else None) == before


def test_it_never_lowers_a_nice_value_already_set_higher():
    got = child(10, start_new_session=True, preexec_fn=lambda: os.nice(15))

    assert got["nice"] == got["process_nice"] == 15
