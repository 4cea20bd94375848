import logging
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init, worker_ready, worker_shutdown

from portal.core import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")

# Before any channel exists: a failed ack must not keep the prefetch slot (portal/core/broker.py).
broker.install()

app = Celery("naevus")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["classifier", "webhooks"])

log = logging.getLogger(__name__)


# Before the pool forks, so every pool process and its ONNX Runtime threads inherit it
# (portal/core/cpu_priority.py: a web request runs first when both want a core).
@worker_init.connect
def _worker_cpu_priority(sender, **kwargs):
    from django.conf import settings

    from portal.core.cpu_priority import cpu_priority_lower

    if settings.NAEVUS_WORKER_NICE > 0:
        log.info("worker CPU priority: %s", cpu_priority_lower(nice=settings.NAEVUS_WORKER_NICE).describe())


# What `manage.py worker_liveness` reads (portal/core/worker_liveness.py). Pool processes record
# their own progress, so the record moves only while tasks really reach the pool.
def _record_progress(node: str) -> None:
    from portal.core.worker_liveness import worker_progress_record

    worker_progress_record(node=node, queues=list(app.amqp.queues.consume_from))


@worker_ready.connect
def _worker_ready(sender, **kwargs):
    _record_progress(sender.hostname)


@task_prerun.connect
@task_postrun.connect
def _task_progress(task, **kwargs):
    _record_progress(task.request.hostname)


@worker_shutdown.connect
def _worker_shutdown(sender, **kwargs):
    from portal.core.worker_liveness import worker_progress_forget

    worker_progress_forget(node=sender.hostname)
