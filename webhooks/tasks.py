"""Celery tasks: take ids, hand them to the services (webhooks.services)."""

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def deliver(delivery_id: int) -> None:
    attempt = services.delivery_attempt(delivery_id)
    if attempt is not None and attempt.retry_in is not None:
        services.deliveries_publish([delivery_id], countdown=attempt.retry_in)


@shared_task(ignore_result=True)
def sweep() -> None:
    services.deliveries_sweep()
