"""Issue 16, item 5: audit rows are appended to several hash chains so that concurrent requests do not
queue on one head row, and `audit verify` still catches every edit, deletion, reordering or insertion,
in the middle of a chain or at its newest end (the rows only the chain's head vouches for).

Real PostgreSQL, real row locks: appends run in threads with their own connections. Tampering is done
as a database superuser would, with the append-only trigger disabled."""

import threading

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction

from portal.audit.models import Action, AuditEvent
from portal.audit.services import _digest, audit_record, audit_verify, event_fields

pytestmark = pytest.mark.django_db(transaction=True)


def _append(user, n=1, object_type="patient"):
    for i in range(n):
        audit_record(user=user, action=Action.READ, object_type=object_type, object_id=i)


class HeldChain:
    """Another connection that has appended one row and keeps its transaction (and so its chain's head)
    open until released."""

    def __init__(self, user):
        self.user = user
        self.held = threading.Event()
        self.release = threading.Event()
        self.chain = None
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        try:
            with transaction.atomic():
                self.chain = audit_record(user=self.user, action=Action.READ, object_type="held").chain
                self.held.set()
                self.release.wait(timeout=30)
        finally:
            connections.close_all()

    def __enter__(self):
        self.thread.start()
        assert self.held.wait(timeout=10)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(timeout=30)


def _superuser_sql(*statements):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_no_update")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_no_update")


def test_an_append_does_not_wait_for_another_transaction_that_holds_a_chain(alice):
    _append(alice)  # the heads exist, as they do after a site's first audited request
    with HeldChain(alice) as other, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")  # the single-head design fails here
        mine = audit_record(user=alice, action=Action.READ, object_type="patient")
    assert mine.chain != other.chain
    assert not audit_verify()


def test_when_every_chain_is_held_an_append_waits_for_one_and_still_chains(alice, settings):
    settings.NAEVUS_AUDIT_CHAINS = 1
    _append(alice)
    with HeldChain(alice):
        waiting = threading.Thread(target=lambda: (_append(alice), connections.close_all()))
        waiting.start()
        waiting.join(timeout=1)
        assert waiting.is_alive(), "the append did not wait for the only chain"
    waiting.join(timeout=30)
    assert AuditEvent.objects.count() == 3
    assert set(AuditEvent.objects.values_list("chain", flat=True)) == {1}
    assert not audit_verify()


def test_many_concurrent_audited_writes_all_land_and_verify(alice):
    threads, per_thread = 16, 25
    errors = []

    def writer(k):
        try:
            _append(alice, per_thread, object_type=f"w{k}")
        except DatabaseError as exc:  # collected: an exception in a thread would not fail the test
            errors.append(repr(exc))
        finally:
            connections.close_all()

    workers = [threading.Thread(target=writer, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert errors == []
    assert AuditEvent.objects.count() == threads * per_thread
    for k in range(threads):
        assert AuditEvent.objects.filter(object_type=f"w{k}").count() == per_thread
    assert AuditEvent.objects.values("chain").distinct().count() > 1, "every write queued on one chain"
    assert not audit_verify()
    call_command("audit", "verify")


def test_verifying_while_requests_append_finds_nothing_wrong(alice):
    """Rows and heads must be read in one snapshot: an append committed between reading a chain's rows and
    reading its head would look like a row added after the head."""
    _append(alice)
    stop = threading.Event()

    def writer():
        try:
            while not stop.is_set():
                _append(alice)
        finally:
            connections.close_all()

    writers = [threading.Thread(target=writer) for _ in range(4)]
    for w in writers:
        w.start()
    try:
        found = [audit_verify() for _ in range(20)]
    finally:
        stop.set()
        for w in writers:
            w.join(timeout=30)
    assert [d for d in found if d] == []
    assert not audit_verify()


@pytest.fixture
def two_chains(alice):
    """Chain A: a1 a2 (a rolled-back append leaves an unused id) a3 a4, where a3 is appended by another
    connection that holds chain A while b1 b2 go to chain B. Returns the rows of each chain in append order."""
    _append(alice, 2)
    with pytest.raises(RuntimeError), transaction.atomic():
        _append(alice)
        raise RuntimeError("the request failed after its audit row: the row and its id are rolled back")
    with HeldChain(alice) as held:
        _append(alice, 2)
    _append(alice, 1)
    rows = list(AuditEvent.objects.order_by("id"))
    chain_a = [r for r in rows if r.chain == rows[0].chain]
    chain_b = [r for r in rows if r.chain != rows[0].chain]
    assert held.chain == chain_a[0].chain and len(chain_a) == 4 and len(chain_b) == 2
    assert not audit_verify()
    return chain_a, chain_b


def _forged_after(row, *, pk, chain):
    """A row a forger computes correctly from the hash of the row it claims to follow."""
    forged = AuditEvent(
        pk=pk, at=row.at, user_id=row.user_id, action="R", object_type="patient", object_id="42", patient_id=7,
        outcome="ok", chain=chain, prev_hash=row.hash,
    )  # fmt: skip
    forged.hash = _digest(forged.prev_hash, event_fields(forged))
    return forged


def _tamper(kind, rows, where):
    """Tampers with `rows` (one chain, in order): the middle (rows[1]) or the newest end (rows[-1])."""
    i = 1 if where == "middle" else len(rows) - 1
    row = rows[i]
    if kind == "edit":
        _superuser_sql(("UPDATE audit_auditevent SET user_id = 999 WHERE id = %s", [row.pk]))
    elif kind == "delete":
        _superuser_sql(("DELETE FROM audit_auditevent WHERE id = %s", [row.pk]))
    elif kind == "reorder":
        a, b = rows[i - 1].pk, row.pk
        _superuser_sql(
            ("UPDATE audit_auditevent SET id = -%s WHERE id = %s", [a, a]),
            ("UPDATE audit_auditevent SET id = %s WHERE id = %s", [a, b]),
            ("UPDATE audit_auditevent SET id = %s WHERE id = -%s", [b, a]),
        )
    elif kind == "move":
        _superuser_sql(("UPDATE audit_auditevent SET chain = chain + 100 WHERE id = %s", [row.pk]))
    elif kind == "insert":
        if where == "middle":  # into the unused id between rows[1] and rows[2]
            free = next(pk for pk in range(row.pk + 1, rows[2].pk) if not AuditEvent.objects.filter(pk=pk).exists())
            _forged_after(row, pk=free, chain=row.chain).save(force_insert=True)
        else:
            _forged_after(row, pk=row.pk + 1000, chain=row.chain).save(force_insert=True)


@pytest.mark.parametrize("where", ["middle", "newest"])
@pytest.mark.parametrize("kind", ["edit", "delete", "reorder", "move", "insert"])
def test_audit_verify_detects_tampering(two_chains, kind, where, capsys):
    chain_a, chain_b = two_chains
    _tamper(kind, chain_a, where)
    damage = audit_verify()
    assert damage, f"{kind} at the {where} of a chain went unnoticed"
    with pytest.raises(SystemExit):
        call_command("audit", "verify")
    assert "BROKEN" in capsys.readouterr().err
    # The other chain is not blamed.
    assert not set(damage.rows) & {r.pk for r in chain_b}
    assert chain_b[0].chain not in damage.chains


def test_a_newest_row_cut_off_is_blamed_on_its_chain(two_chains):
    chain_a, _ = two_chains
    _tamper("delete", chain_a, "newest")
    damage = audit_verify()
    assert damage.rows == [] and damage.chains == [chain_a[0].chain]


def test_an_edit_is_blamed_on_the_row(two_chains):
    chain_a, _ = two_chains
    _tamper("edit", chain_a, "middle")
    assert audit_verify().rows == [chain_a[1].pk]
