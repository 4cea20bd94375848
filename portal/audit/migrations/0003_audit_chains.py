"""Audit rows are appended to several hash chains (`AuditEvent.chain` = the head's pk) so that concurrent
requests stop queueing on the one head row. Every existing row was appended under head 1, which is what
the default says; on PostgreSQL the column is added without touching a row (no UPDATE for the trigger
to refuse). SQLite rebuilds the table to add a column with a default and drops its triggers on the way,
so 0002's triggers are created again."""

from importlib import import_module

from django.db import migrations, models

append_only = import_module("portal.audit.migrations.0002_append_only")


def sqlite_triggers_again(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in append_only.SQLITE_REVERSE + append_only.SQLITE_FORWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only")]
    operations = [
        migrations.AddField(model_name="auditevent", name="chain", field=models.PositiveSmallIntegerField(default=1)),
        migrations.AddIndex(
            model_name="auditevent", index=models.Index(fields=["chain", "id"], name="audit_audit_chain_025a29_idx")
        ),
        migrations.RunPython(sqlite_triggers_again, migrations.RunPython.noop),
    ]
