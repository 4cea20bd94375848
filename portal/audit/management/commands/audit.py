import sys

from django.core.management.base import BaseCommand

from portal.audit.services import audit_verify


class Command(BaseCommand):
    help = "Audit trail tools. `audit verify` checks the hash chains and exits 1 if a row was tampered with."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["verify"])

    def handle(self, *args, **options):
        damage = audit_verify()
        if damage.rows:
            self.stderr.write(f"audit chain BROKEN at {len(damage.rows)} row(s): ids {damage.rows[:20]}")
        if damage.chains:
            self.stderr.write(f"audit chain BROKEN at the end of chain(s) {damage.chains}: last row missing or added")
        if damage:
            sys.exit(1)
        self.stdout.write("audit chain intact")
