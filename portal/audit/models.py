from django.db import models


class Action(models.TextChoices):
    CREATE = "C", "Create"
    READ = "R", "Read"
    UPDATE = "U", "Update"
    DELETE = "D", "Delete"
    EXECUTE = "E", "Execute"


class Outcome(models.TextChoices):
    OK = "ok", "OK"
    DENIED = "denied", "Denied"


class AuditEvent(models.Model):
    """Who did what to which patient's data. Ids only, never names. Rows are append-only
    (a database trigger refuses UPDATE and DELETE) and hash-chained (`manage.py audit verify`).

    There are several chains, not one: each row belongs to the chain whose head it was appended under
    (`chain` is that head's pk), and within a chain `id` order is append order. Concurrent requests
    append to different chains instead of queueing on one row (bench/audit_load.py)."""

    at = models.DateTimeField(db_index=True)
    user_id = models.BigIntegerField(null=True, db_index=True)
    action = models.CharField(max_length=1, choices=Action.choices)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64, blank=True)
    patient_id = models.BigIntegerField(null=True, db_index=True)
    ip = models.GenericIPAddressField(null=True)
    request_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    # Rows written before chains were striped all belong to the one chain that existed: head 1.
    chain = models.PositiveSmallIntegerField(default=1)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["object_type", "object_id"]), models.Index(fields=["chain", "id"])]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} user={self.user_id} {self.action} {self.object_type}:{self.object_id}"


class AuditChainHead(models.Model):
    """The last hash of one chain (pk = the chain's number), locked while appending to it so that the
    chain stays linear; an appender takes any head nobody holds (`services.audit_record`)."""

    last_hash = models.CharField(max_length=64)
