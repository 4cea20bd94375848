"""`manage.py worker_liveness` against the real Redis (the test broker's own database): a worker is
called stalled only when its queue holds work and it has made no progress for the window.
A real worker writing its record, and a real stall, are in tests/reliability/test_broker_restarts.py."""

import threading
import time

import pytest
import redis as redis_lib
from django.conf import settings
from django.core.management import CommandError, call_command

from portal.celery import app
from portal.core.worker_liveness import worker_progress_forget, worker_progress_record

pytestmark = pytest.mark.integration

HOST = "liveness-test-host"
NODE = f"cpu@{HOST}"


@pytest.fixture(autouse=True)
def empty_broker():
    assert settings.CELERY_BROKER_URL.startswith("redis://"), "these tests need the local Redis"
    redis_lib.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


def _check(**options) -> str:
    from io import StringIO

    out = StringIO()
    call_command("worker_liveness", host=HOST, stall_after=60, stdout=out, **{"confirm_after": 0, **options})
    return out.getvalue()


def _queue_a_task():
    app.send_task("classifier.tasks.predict", args=[[1]], queue="inference")


def test_a_worker_with_work_waiting_and_no_progress_for_the_window_fails():
    worker_progress_record(node=NODE, queues=["inference", "default"], at=time.time() - 61)
    _queue_a_task()
    with pytest.raises(CommandError, match=f"{NODE}: work waiting and no progress for over 60 s") as stalled:
        _check()
    assert stalled.value.returncode == 1


def test_a_worker_that_starts_a_task_while_the_check_looks_again_passes():
    worker_progress_record(node=NODE, queues=["inference"], at=time.time() - 600)
    _queue_a_task()
    threading.Timer(0.5, worker_progress_record, kwargs={"node": NODE, "queues": ["inference"]}).start()
    assert "last progress 1 s ago" in _check(confirm_after=1.5)


def test_a_worker_that_progressed_within_the_window_passes_with_work_waiting():
    worker_progress_record(node=NODE, queues=["inference", "default"], at=time.time() - 50)
    _queue_a_task()
    assert f"{NODE}: 1 waiting in default,inference; last progress 50 s ago" in _check()


def test_an_idle_worker_with_nothing_waiting_passes_however_long_ago_it_progressed():
    worker_progress_record(node=NODE, queues=["inference"], at=time.time() - 86_400)
    assert "0 waiting" in _check()


def test_only_the_named_hosts_workers_are_judged():
    worker_progress_record(node="cpu@another-host", queues=["inference"], at=time.time() - 600)
    worker_progress_record(node=NODE, queues=["inference"])
    _queue_a_task()
    assert "another-host" not in _check()
    with pytest.raises(CommandError, match="cpu@another-host"):
        _check(node=["cpu@another-host"])


def test_no_recorded_worker_is_a_cannot_tell_and_a_clean_shutdown_removes_the_record():
    worker_progress_record(node=NODE, queues=["inference"])
    _check()
    worker_progress_forget(node=NODE)
    with pytest.raises(CommandError, match="no worker has recorded progress") as cannot_tell:
        _check()
    assert cannot_tell.value.returncode == 2


def test_the_embedded_runs_filesystem_broker_records_nothing_and_a_shutdown_says_nothing(monkeypatch, tmp_path, caplog):
    # `make run`'s broker has no place for the record; a worker's shutdown used to log "progress record not
    # removed (AttributeError)" there every time.
    from celery import Celery

    from portal.core import worker_liveness

    folders = {name: tmp_path / name for name in ("out", "processed", "control")}
    for folder in folders.values():
        folder.mkdir()
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery lets it override any broker it is given
    embedded = Celery("embedded", broker="filesystem://")
    embedded.conf.broker_transport_options = {
        "data_folder_in": str(folders["out"]),
        "data_folder_out": str(folders["out"]),
        "processed_folder": str(folders["processed"]),
        "control_folder": str(folders["control"]),
    }
    monkeypatch.setattr(worker_liveness, "_app", lambda: embedded)

    with caplog.at_level("WARNING", logger=worker_liveness.__name__):
        worker_progress_record(node=NODE, queues=["inference"])
        worker_progress_forget(node=NODE)

    with embedded.pool.acquire(block=True, timeout=2) as conn:
        assert conn.transport.driver_type == "filesystem"
    assert [r.getMessage() for r in caplog.records if r.name == worker_liveness.__name__] == []
