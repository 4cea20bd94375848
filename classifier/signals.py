"""What classifier tells the apps built on it, after the commit that made it true. Receivers must not
make the sender fail: they are called robustly and their errors logged (ids only)."""

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# A prediction stored its result (status done). kwargs: prediction_id.
prediction_finished = Signal()
# A batch finished (status done: every file in, every prediction ended). kwargs: batch_id.
batch_finished = Signal()


def send_after_commit(signal: Signal, **kwargs) -> None:
    def send():
        for receiver, result in signal.send_robust(sender=None, **kwargs):
            if isinstance(result, Exception):
                logger.error("receiver %s failed for %s", getattr(receiver, "__qualname__", receiver), kwargs,
                             exc_info=(type(result), result, result.__traceback__))  # fmt: skip

    transaction.on_commit(send)
