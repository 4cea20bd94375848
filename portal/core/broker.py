"""A failed acknowledgement must not take the worker's only prefetch slot for good (issue #12, item 7).

kombu's Redis QoS acknowledges a message in two steps: remove it from the `unacked` hash in Redis,
then drop it from the channel's own count of delivered messages. When Redis is down at that moment
the first step raises, kombu logs "Couldn't ack" and swallows the error (`Message.ack_log_error`),
and the second step never runs. With prefetch 1 the channel then believes a message is still in
hand, never asks Redis for another (`QoS.can_consume`), and so never touches the dead connection
that would have told it to reconnect: the worker lives, answers nothing wrong, and consumes nothing
(seen in tests/reliability: "Couldn't ack …, ConnectionError", then no task for 60 s while the rest
of a 60-image batch waited). Dropping the local record whatever Redis answered frees the slot; the
message stays in Redis' `unacked` hash and comes back after the visibility timeout, where the
database finds its job done (acks_late, idempotent claims)."""

from kombu.transport import redis


class QoS(redis.QoS):
    def ack(self, delivery_tag):
        try:
            self._remove_from_indices(delivery_tag).execute()
        finally:
            # kombu.transport.virtual.QoS.ack: forget the delivery locally, even if Redis did not hear.
            super(redis.QoS, self).ack(delivery_tag)


def install() -> None:
    """Makes every Redis channel of this process use the QoS above."""
    redis.Channel.QoS = QoS
