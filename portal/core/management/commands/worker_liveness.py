"""`manage.py worker_liveness`: exit 1 when a worker on this host has work waiting and has made no
progress for NAEVUS_WORKER_STALL_SECONDS (see portal/core/worker_liveness.py); exit 2 when it cannot
tell (broker unreachable, no worker recorded), which a supervisor should not answer with a restart:
a new worker cannot reach an unreachable broker either. For the compose worker health check, a
Kubernetes liveness probe, a systemd timer (docs/deploy.md, "Worker liveness")."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.core.worker_liveness import worker_states


class Command(BaseCommand):
    help = "Fail when a Celery worker has messages waiting in its queues but made no progress for too long."

    def add_arguments(self, parser):
        parser.add_argument(
            "--node", action="append", help="a worker's node name (repeatable); default: every worker on this host"
        )
        parser.add_argument("--host", help="check the workers of this host name instead of this machine's")
        parser.add_argument(
            "--stall-after",
            type=float,
            default=settings.NAEVUS_WORKER_STALL_SECONDS,
            help="seconds without progress, with work waiting, that count as a stall",
        )
        parser.add_argument(
            "--confirm-after",
            type=float,
            default=5,
            help="look again after this many seconds before calling a worker stalled",
        )

    def handle(self, *args, **options):
        states = self._states(options, options["node"])
        if any(state.stalled for state in states):
            # A worker that was idle for long and has just been handed a burst of work looks stalled
            # until its first task starts, a fraction of a second later: ask again before failing.
            time.sleep(options["confirm_after"])
            again = {state.node: state for state in self._states(options, [s.node for s in states if s.stalled])}
            states = [again.get(state.node) if state.stalled else state for state in states]
            states = [state for state in states if state is not None]
        if not states:
            raise CommandError(
                "no worker has recorded progress on this host (not started, or the record was lost)", returncode=2
            )
        for state in states:
            self.stdout.write(
                f"{state.node}: {state.waiting} waiting in {','.join(state.queues)}; "
                f"last progress {state.idle_seconds:.0f} s ago{' — STALLED' if state.stalled else ''}"
            )
        stalled = [state.node for state in states if state.stalled]
        if stalled:
            raise CommandError(
                f"{', '.join(stalled)}: work waiting and no progress for over {options['stall_after']:.0f} s"
            )

    @staticmethod
    def _states(options, nodes):
        try:
            return worker_states(stall_after=options["stall_after"], nodes=nodes, host=options["host"])
        except Exception as exc:  # noqa: BLE001 — whatever keeps us from the broker, the answer is "can't tell"
            raise CommandError(
                f"broker unreachable ({type(exc).__name__}): cannot tell whether workers consume", returncode=2
            ) from exc
