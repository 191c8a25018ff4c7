"""Operator actions on a published invoice: void it in Stripe, then reissue a corrected one.

Usage (``meterhouse invoice void|reissue INVOICE_ID --reason TEXT`` calls :func:`invoice_command`)::

    from ingestion.stripe_publish import reissue_invoice, void_invoice

    result = void_invoice(con, client, "inv_a_20260131", reason="wrong storage tier")
    print(result.render())
    result = reissue_invoice(con, client, "inv_a_20260131", reason="storage tier corrected")

``void_invoice``: the Meterhouse invoice's Stripe invoice (found as the publisher finds it: the
ledger's id, and the customer's invoices by ``metadata['meterhouse_invoice_id']``) must be
finalized (``open`` or ``uncollectible``). It is voided under the idempotency key
``mh-<invoice_id>-void<n>`` (n: 1 + the invoices of this Meterhouse invoice already void), the
document row (``raw.stripe_published_documents``) goes to state ``voided`` (its
``stripe_invoice_id`` still the voided one) and a row is appended to
``raw.stripe_invoice_operations`` with the reason and the operator. ``publish_month`` then skips
the invoice (``skipped``, reason ``voided_in_stripe``): a voided invoice is never silently
republished; only ``reissue_invoice`` publishes it again.

``reissue_invoice``: the invoice must be void in Stripe (voided by ``void_invoice`` or by hand) with
no live invoice left. A NEW Stripe invoice is made from the current lines of
``billing.fct_issued_invoice_lines``, exactly as the publisher makes one (same metadata, one
invoice item per non-zero line with its integer amount) plus ``metadata['meterhouse_reissue_of']``
= the voided Stripe invoice; its total is checked against ``total_amount_cents`` before and after
finalizing. The document row goes back to ``finalized`` with the new id, so ``publish_month`` reports
it ``already_published``. Exactly once: the customer's invoice list (strongly consistent, unlike
search) is read before every write, and a live replacement found there is resumed (a draft: its
missing lines are added, then it is finalized; finalized: only recorded), never made twice; the
writes carry keys ``mh-<invoice_id>-reissue<n>-create``, ``mh-<invoice_line_id>-reissue<n>`` and
``mh-<invoice_id>-reissue<n>-finalize`` (n: the number of void invoices; a key whose call ended
``ok`` or in a stored error gets a ``-k1``... suffix, as in ``ledger``). A replacement draft left
by a crash may also be finished by ``publish_month`` (``resumed``); the next ``reissue_invoice``
then records the operation.

Outcomes (:class:`OperationResult`): ``ok``; ``refused`` (no reason, nothing published, a draft,
already void, paid, never voided, already reissued...): nothing was changed, in Stripe or in the
warehouse, and the message says what to do instead; ``failed``: a Stripe call failed after the
operation began writing; an operations row ``failed`` is appended, and running the same command
again resumes. Every Stripe call is in ``raw.stripe_publications`` under the operation's
``run_id`` (steps ``void``, ``reissue_create``, ``reissue_add_line``, ``reissue_finalize``,
``lookup``); the reads of a refused operation are not kept.
"""

from __future__ import annotations

import getpass
import os
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import duckdb
import stripe

from . import report as R
from .calls import Caller, RetryPolicy
from .ledger import DOCUMENTS, OPERATIONS, PUBLICATIONS, CallRecord, Ledger, idempotency_key
from .publisher import (
    BILLING_MONTH_METADATA_KEY,
    CUSTOMER_ID_METADATA_KEY,
    DEFAULT_DAYS_UNTIL_DUE,
    INVOICE_ID_METADATA_KEY,
    LINE_ID_METADATA_KEY,
    DocumentFailed,
    DocumentSkipped,
    _clock,
    _from_epoch,
    _mismatch,
    _Publisher,
)
from .report import DocumentOutcome, LineOutcome
from .source import Invoice, format_amount, load_blockers, load_invoice

REISSUE_OF_METADATA_KEY = "meterhouse_reissue_of"

VOID = "void"
REISSUE = "reissue"
ACTIONS = (VOID, REISSUE)

OK = "ok"
REFUSED = "refused"  # nothing changed
FAILED = "failed"  # a Stripe call failed after writing began; recorded, rerun resumes

_FINALIZED = ("open", "paid", "uncollectible")


class _Refused(Exception):
    """The operation is not allowed now; nothing was changed."""


@dataclass
class OperationResult:
    """What one ``void_invoice`` / ``reissue_invoice`` did."""

    operation: str  # void | reissue
    invoice_id: str  # Meterhouse
    reason: str | None
    operator: str
    run_id: str
    status: str = REFUSED  # ok | refused | failed
    error: str | None = None
    note: str | None = None
    resumed: bool = False  # completed what an interrupted run had begun
    customer_id: str | None = None
    currency: str | None = None
    meterhouse_total: int | None = None  # minor units
    stripe_invoice_id: str | None = None  # the voided invoice / the replacement
    replaced_stripe_invoice_id: str | None = None  # a reissue's voided invoice
    stripe_status: str | None = None
    stripe_total: int | None = None
    operation_id: str | None = None  # its row in raw.stripe_invoice_operations, when recorded
    stripe_calls: int = 0
    stripe_writes: int = 0

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def _amount(self, amount: int | None) -> str:
        if amount is None or self.currency is None:
            return "?"
        return format_amount(amount, self.currency)

    def render(self) -> str:
        inv = f"Meterhouse invoice {self.invoice_id}"
        if self.customer_id:
            inv += f" ({self.customer_id}, {self._amount(self.meterhouse_total)})"
        who = f"reason: {self.reason!r}; by {self.operator}"
        if self.status == REFUSED:
            verb = "Not voided" if self.operation == VOID else "Not reissued"
            return f"{verb}: {inv}: {self.error}\n  Nothing was changed."
        if self.status == FAILED:
            where = (
                f"Recorded (operation {self.operation_id}, run {self.run_id})"
                if self.operation_id
                else f"Nothing was sent to Stripe (run {self.run_id})"
            )
            return (
                f"{self.operation.capitalize()} of {inv} FAILED: {self.error}\n"
                f"  {where}; run the same command again to resume."
            )
        if self.operation == VOID:
            head = f"Voided Stripe invoice {self.stripe_invoice_id} of {inv}; {who}."
            tail = (
                f"  Next: `meterhouse invoice reissue {self.invoice_id} --reason ...` publishes the "
                "corrected invoice (publish_month leaves a voided invoice alone)."
            )
        else:
            head = (
                f"Reissued {inv} as Stripe invoice {self.stripe_invoice_id} "
                f"({self.stripe_status}, {self._amount(self.stripe_total)}), replacing voided "
                f"{self.replaced_stripe_invoice_id}; {who}."
            )
            tail = ""
        if self.note:
            tail = f"  ({self.note})" + ("\n" + tail if tail else "")
        tail = (
            tail + "\n" if tail else ""
        ) + f"  Operation {self.operation_id}, run {self.run_id}."
        return f"{head}\n{tail}"


class _OperationLedger(Ledger):
    """The publisher's ledger, with two differences: call rows wait in memory until the
    operation starts writing (a refused operation leaves no trace), and a key is rotated only
    among the keys of its own base (``mh-x-reissue2-create`` does not inherit the ``-k``
    suffix of ``mh-x-reissue1-create``)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str, clock: Any) -> None:
        super().__init__(con, run_id, clock, writable=True)
        self.deferred = True
        self._pending: list[CallRecord] = []

    def record_call(self, rec: CallRecord) -> None:
        if self.deferred:
            self._pending.append(rec)
        else:
            super().record_call(rec)

    def keep_calls(self) -> None:
        """Write the buffered call rows, and every later one as it happens."""
        self.deferred = False
        pending, self._pending = self._pending, []
        for rec in pending:
            super().record_call(rec)

    def current_key(
        self, document_type: str, document_id: str, line_id: str | None, step: str, base: str
    ) -> str:
        rows = self.con.execute(
            f"""select idempotency_key, outcome from {PUBLICATIONS}
            where document_type = ? and document_id = ? and coalesce(line_id, '') = ?
              and step = ? and (idempotency_key = ? or starts_with(idempotency_key, ?))
            order by call_seq""",
            [document_type, document_id, line_id or "", step, base, base + "-k"],
        ).fetchall()
        if not rows:
            return base
        last_key, last_outcome = rows[-1]
        if last_outcome in ("rate_limited", "server_error", "connection_error", "key_in_use"):
            return str(last_key)
        if last_outcome == "client_error":
            return str(last_key)
        used = {str(k) for k, _ in rows}
        n = len(used)
        while f"{base}-k{n}" in used:
            n += 1
        return f"{base}-k{n}"


def _default_operator() -> str:
    """``$USER``, else the login name, else ``unknown``."""
    if os.environ.get("USER"):
        return os.environ["USER"]
    try:
        return getpass.getuser()
    except Exception:  # no user name in the environment nor in the password database
        return "unknown"


class _Operation:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        client: stripe.StripeClient,
        operation: str,
        invoice_id: str,
        reason: str | None,
        operator: str | None,
        now: datetime | None,
        retry: RetryPolicy | None,
    ) -> None:
        self.con = con
        self.client = client
        self.operation = operation
        self.invoice_id = invoice_id
        self.reason = (reason or "").strip()
        self.clock = _clock(now)
        run_id = f"op-{operation}-{uuid.uuid4().hex[:12]}"
        self.ledger = _OperationLedger(con, run_id, self.clock)
        self.caller = Caller(self.ledger, retry or RetryPolicy())
        self.pub = _Publisher(
            client,
            self.ledger,
            self.caller,
            dry_run=False,
            days_until_due=DEFAULT_DAYS_UNTIL_DUE,
            blockers=None,
        )
        self.result = OperationResult(
            operation=operation,
            invoice_id=invoice_id,
            reason=self.reason or None,
            operator=(operator or "").strip() or _default_operator(),
            run_id=run_id,
        )
        self.doc: DocumentOutcome | None = None
        self.facts: dict[str, Any] | None = None
        self.writing = False

    # --- running ------------------------------------------------------------------------------

    def run(self) -> OperationResult:
        res = self.result
        try:
            if not self.reason:
                raise _Refused(
                    f"a reason is required (--reason TEXT): it is recorded with the {self.operation}"
                )
            if self.operation == VOID:
                self._void()
            else:
                self._reissue()
            res.status, res.error = OK, None
        except _Refused as refused:
            res.status, res.error = REFUSED, str(refused)
        except DocumentSkipped as skipped:
            res.status = REFUSED
            res.error = f"{skipped.reason}: the customer has no single Stripe customer"
        except DocumentFailed as failed:
            res.status, res.error = FAILED, str(failed)
            self.ledger.keep_calls()
            if self.writing:
                self._record(FAILED, error=str(failed))
                if self.facts is not None:
                    self._save(state=failed.state, last_error=str(failed))
        finally:
            res.stripe_calls, res.stripe_writes = self.caller.calls, self.caller.writes
        return res

    def _begin_writing(self) -> None:
        self.ledger.keep_calls()
        self.writing = True

    # --- warehouse ----------------------------------------------------------------------------

    def _document_row(self) -> dict[str, Any] | None:
        rows = self.con.execute(
            f"""select customer_id, billing_month, currency, meterhouse_total_cents, state,
                stripe_invoice_id
            from {DOCUMENTS} where document_type = 'invoice' and document_id = ?""",
            [self.invoice_id],
        ).fetchall()
        if not rows:
            return None
        r = rows[0]
        return {
            "customer_id": r[0],
            "billing_month": r[1],
            "currency": str(r[2]).upper(),
            "meterhouse_total_cents": int(r[3]),
            "state": r[4],
            "stripe_invoice_id": r[5],
        }

    def _set_facts(self, inv: Invoice | None) -> None:
        """Customer, month, currency and total: the issued invoice's, else the ledger's."""
        if inv is not None:
            self.facts = {
                "customer_id": inv.customer_id,
                "billing_month": inv.billing_month,
                "currency": inv.currency,
                "meterhouse_total_cents": inv.total_amount_cents,
            }
        else:
            row = self._document_row()
            if row is None:
                raise _Refused(
                    "not an issued Meterhouse invoice (billing.fct_issued_invoices) and never "
                    "published (raw.stripe_published_documents)"
                )
            self.facts = {k: row[k] for k in ("customer_id", "billing_month", "currency")}
            self.facts["meterhouse_total_cents"] = row["meterhouse_total_cents"]
        res = self.result
        res.customer_id = self.facts["customer_id"]
        res.currency = self.facts["currency"]
        res.meterhouse_total = self.facts["meterhouse_total_cents"]
        self.doc = DocumentOutcome(
            "invoice",
            self.invoice_id,
            self.facts["customer_id"],
            self.facts["currency"],
            self.facts["meterhouse_total_cents"],
        )

    def _save(self, **kw: Any) -> None:
        assert self.facts is not None and self.doc is not None
        self.ledger.save_document(
            document_type="invoice",
            document_id=self.invoice_id,
            stripe_customer_id=self.doc.stripe_customer_id,
            **self.facts,
            **kw,
        )

    def _record(self, status: str, *, error: str | None = None) -> None:
        res = self.result
        res.operation_id = f"op_{uuid.uuid4().hex[:16]}"
        self.con.execute(
            f"""insert into {OPERATIONS} (operation_id, operation, invoice_id, stripe_invoice_id,
                replaced_stripe_invoice_id, reason, operator, status, error, run_id, operated_at)
            values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                res.operation_id,
                self.operation,
                self.invoice_id,
                res.stripe_invoice_id,
                res.replaced_stripe_invoice_id,
                self.reason,
                res.operator,
                status,
                error,
                res.run_id,
                self.clock(),
            ],
        )

    def _last_ok(self, operation: str, stripe_invoice_id: str) -> tuple | None:
        rows = self.con.execute(
            f"""select operation_id, operator, operated_at, reason from {OPERATIONS}
            where invoice_id = ? and operation = ? and stripe_invoice_id = ? and status = 'ok'
            order by operation_seq desc limit 1""",
            [self.invoice_id, operation, stripe_invoice_id],
        ).fetchall()
        return rows[0] if rows else None

    def _void_was_sent(self, stripe_invoice_id: str) -> bool:
        rows = self.con.execute(
            f"""select count(*) from {PUBLICATIONS}
            where document_type = 'invoice' and document_id = ? and step = 'void'
              and endpoint = ?""",
            [self.invoice_id, f"POST /v1/invoices/{stripe_invoice_id}/void"],
        ).fetchall()
        return bool(rows[0][0])

    # --- Stripe -------------------------------------------------------------------------------

    def _candidates(self, customer: str, ledger_sid: str | None) -> list[dict]:
        """Every Stripe invoice of the customer carrying this Meterhouse invoice id, void ones
        included, from the customer's list (strongly consistent, unlike search), plus the one
        the ledger names when its metadata was lost. Oldest first."""
        assert self.doc is not None
        doc = self.doc
        found: dict[str, dict] = {}
        params: dict[str, Any] = {"customer": customer, "limit": 100}
        while True:
            page = self.pub._read(
                doc,
                "GET /v1/invoices",
                lambda p, o: self.client.v1.invoices.list(p, o),
                dict(params),
            )
            assert page is not None
            data = page.get("data", [])
            for i in data:
                if (i.get("metadata") or {}).get(INVOICE_ID_METADATA_KEY) == self.invoice_id:
                    found[i["id"]] = i
            if not page.get("has_more") or not data:
                break
            params["starting_after"] = data[-1]["id"]
        if ledger_sid and ledger_sid not in found:
            obj = self.pub._read(
                doc,
                f"GET /v1/invoices/{ledger_sid}",
                lambda p, o: self.client.v1.invoices.retrieve(ledger_sid, p, o),
                allow_missing=True,
            )
            if obj is not None and not obj.get("deleted") and obj.get("customer") == customer:
                found[ledger_sid] = obj
        return sorted(found.values(), key=lambda i: (i.get("created") or 0, i["id"]))

    @staticmethod
    def _split(candidates: list[dict]) -> tuple[list[dict], list[dict]]:
        live = [c for c in candidates if c.get("status") != "void"]
        voided = [c for c in candidates if c.get("status") == "void"]
        return live, voided

    @staticmethod
    def _latest_void(voided: list[dict], ledger_sid: str | None) -> dict:
        for v in voided:
            if v["id"] == ledger_sid:
                return v
        return max(
            voided,
            key=lambda v: (
                (v.get("status_transitions") or {}).get("voided_at") or 0,
                v.get("created") or 0,
                v["id"],
            ),
        )

    def _lookup_state(self) -> tuple[str, str | None, list[dict], list[dict]]:
        """(Stripe customer, ledger's Stripe id, live invoices, void invoices)."""
        assert self.doc is not None
        customer = self.pub._customer(self.doc)
        row = self._document_row()
        ledger_sid = row["stripe_invoice_id"] if row else None
        candidates = self._candidates(customer, ledger_sid)
        if not candidates:
            raise _Refused(
                "not published to Stripe: no Stripe invoice of the customer carries "
                f"metadata {INVOICE_ID_METADATA_KEY}={self.invoice_id}"
                + (
                    "; publish it with publish_month (stripe publish) instead"
                    if self.operation == REISSUE
                    else ""
                )
            )
        live, voided = self._split(candidates)
        if len(live) > 1:
            raise _Refused(
                f"{len(live)} live Stripe invoices carry {self.invoice_id} "
                f"({', '.join(c['id'] for c in live)}): resolve by hand first"
            )
        return customer, ledger_sid, live, voided

    # --- void ---------------------------------------------------------------------------------

    def _void(self) -> None:
        self._set_facts(load_invoice(self.con, self.invoice_id))
        res = self.result
        _, ledger_sid, live, voided = self._lookup_state()
        if not live:
            target = self._latest_void(voided, ledger_sid)
            res.stripe_invoice_id, res.stripe_status = target["id"], "void"
            done = self._last_ok(VOID, target["id"])
            if done is not None:
                raise _Refused(
                    f"Stripe invoice {target['id']} is already void (operation {done[0]} by "
                    f"{done[1]} at {done[2]:%Y-%m-%d %H:%M} UTC: {done[3]!r}); to publish the "
                    f"corrected invoice: `meterhouse invoice reissue {self.invoice_id} --reason ...`"
                )
            if not self._void_was_sent(target["id"]):
                raise _Refused(
                    f"Stripe invoice {target['id']} is already void in Stripe (voided outside "
                    "Meterhouse); to publish the corrected invoice: "
                    f"`meterhouse invoice reissue {self.invoice_id} --reason ...`"
                )
            # an earlier void_invoice reached Stripe but its answer was lost: record it now
            self._begin_writing()
            res.resumed = True
            res.note = "void in Stripe already: the earlier run's answer was lost; recorded now"
            self._voided(target)
            return

        target = live[0]
        sid, status = target["id"], target.get("status")
        res.stripe_invoice_id, res.stripe_status = sid, status
        if status == "draft":
            of = (target.get("metadata") or {}).get(REISSUE_OF_METADATA_KEY)
            if of:
                raise _Refused(
                    f"Stripe invoice {sid} is a replacement draft (of {of}) not finalized yet: "
                    f"finish it with `meterhouse invoice reissue {self.invoice_id} --reason ...`"
                )
            raise _Refused(
                f"Stripe invoice {sid} is a draft (never finalized, so never issued): there is "
                "nothing to void; publish_month finishes it, or delete the draft in Stripe"
            )
        if status == "paid":
            paid = self.result._amount(target.get("amount_paid"))
            raise _Refused(
                f"Stripe invoice {sid} is paid ({paid}) and Stripe cannot void a paid invoice: "
                "issue a credit note against it instead (a Meterhouse credit note, published by "
                "publish_month), and refund the payment if money goes back"
            )
        if status not in ("open", "uncollectible"):
            raise _Refused(f"Stripe invoice {sid} has status {status}: it cannot be voided")

        self._begin_writing()
        n = len(voided) + 1

        def lookup() -> dict | None:
            obj = self.pub._retrieve_invoice(self.doc, sid)
            return obj if obj.get("status") == "void" else None

        assert self.doc is not None
        try:
            obj = self.pub._write(
                self.doc,
                "void",
                f"POST /v1/invoices/{sid}/void",
                idempotency_key(self.invoice_id, f"void{n}"),
                {},
                lambda p, o: self.client.v1.invoices.void_invoice(sid, p, o),
                lookup,
            )
        except DocumentFailed as failed:
            if "client_error" in str(failed):  # Stripe refused: paid meanwhile?
                now = self.pub._retrieve_invoice(self.doc, sid)
                if now.get("status") == "paid":
                    raise DocumentFailed(
                        f"{failed}; Stripe invoice {sid} was paid meanwhile and cannot be "
                        "voided: issue a credit note against it instead"
                    ) from failed
            raise
        self._voided(obj)

    def _voided(self, obj: dict) -> None:
        res = self.result
        res.stripe_invoice_id, res.stripe_status = obj["id"], obj.get("status")
        res.stripe_total = obj.get("total")
        self._save(state="voided", stripe_invoice_id=obj["id"])
        self._record(OK)

    # --- reissue ------------------------------------------------------------------------------

    def _reissue(self) -> None:
        inv = load_invoice(self.con, self.invoice_id)
        if inv is None:
            raise _Refused(
                "not an issued Meterhouse invoice (billing.fct_issued_invoices): nothing to reissue"
            )
        self._set_facts(inv)
        res = self.result
        lines_sum = sum(line.amount_cents for line in inv.lines)
        if lines_sum != inv.total_amount_cents:
            raise _Refused(
                f"Meterhouse lines sum to {lines_sum} but total_amount_cents is "
                f"{inv.total_amount_cents}: fix the invoice in Meterhouse first"
            )
        blockers = load_blockers(self.con, inv.billing_month) or []
        hits = [b for b in blockers if b.customer_id in (None, inv.customer_id)]
        if hits:
            raise _Refused(
                f"blocked by billing.publish_blockers ({hits[0].check_name}: {hits[0].reason})"
            )
        customer, ledger_sid, live, voided = self._lookup_state()
        if not voided:
            s = live[0]
            raise _Refused(
                f"never voided: Stripe invoice {s['id']} ({s.get('status')}) is live; void it "
                f"first (`meterhouse invoice void {self.invoice_id} --reason ...`), then reissue"
            )
        n = len(voided)
        if live:
            s = live[0]
            of = (s.get("metadata") or {}).get(REISSUE_OF_METADATA_KEY)
            res.stripe_invoice_id, res.stripe_status = s["id"], s.get("status")
            if not of:
                raise _Refused(
                    f"Stripe invoice {s['id']} ({s.get('status')}) is live and is not a "
                    f"replacement: void it first (`meterhouse invoice void {self.invoice_id} "
                    "--reason ...`)"
                )
            res.replaced_stripe_invoice_id = of
            if s.get("status") != "draft":
                done = self._last_ok(REISSUE, s["id"])
                if done is not None:
                    raise _Refused(
                        f"already reissued as Stripe invoice {s['id']} ({s.get('status')}, "
                        f"replacing {of}; operation {done[0]} by {done[1]} at "
                        f"{done[2]:%Y-%m-%d %H:%M} UTC); to correct it again, void {s['id']} "
                        f"first (`meterhouse invoice void {self.invoice_id} --reason ...`)"
                    )
                res.note = (
                    f"replacement {s['id']} was finalized already (an interrupted run, finished "
                    "by it or by publish_month); recorded now"
                )
            else:
                res.note = f"resumed the replacement draft {s['id']} of an interrupted run"
            res.resumed = True
            self._begin_writing()
            self._complete(inv, s, customer, n)
            return

        replaced = self._latest_void(voided, ledger_sid)
        res.replaced_stripe_invoice_id = replaced["id"]
        if str(replaced.get("currency", "")).upper() != inv.currency:
            raise _Refused(
                f"voided Stripe invoice {replaced['id']} is in {replaced.get('currency')}, "
                f"the Meterhouse invoice in {inv.currency}: reissue by hand"
            )
        self._begin_writing()
        created = self._create(inv, customer, replaced["id"], n)
        self._complete(inv, created, customer, n)

    def _create(self, inv: Invoice, customer: str, replaced: str, n: int) -> dict:
        assert self.doc is not None
        params = {
            "customer": customer,
            "currency": inv.currency.lower(),
            "auto_advance": False,
            "collection_method": "send_invoice",
            "days_until_due": DEFAULT_DAYS_UNTIL_DUE,
            "pending_invoice_items_behavior": "exclude",
            "description": (
                f"Meterhouse invoice {inv.invoice_id} ({inv.billing_month}), "
                f"reissued to replace {replaced}"
            ),
            "metadata": {
                INVOICE_ID_METADATA_KEY: inv.invoice_id,
                BILLING_MONTH_METADATA_KEY: inv.billing_month,
                CUSTOMER_ID_METADATA_KEY: inv.customer_id,
                REISSUE_OF_METADATA_KEY: replaced,
            },
        }

        def lookup() -> dict | None:
            live, _ = self._split(self._candidates(customer, None))
            if len(live) > 1:
                ids = ", ".join(c["id"] for c in live)
                raise DocumentFailed(f"{len(live)} live Stripe invoices ({ids}): resolve by hand")
            return live[0] if live else None

        return self.pub._write(
            self.doc,
            "reissue_create",
            "POST /v1/invoices",
            idempotency_key(inv.invoice_id, f"reissue{n}", "create"),
            params,
            lambda p, o: self.client.v1.invoices.create(p, o),
            lookup,
        )

    def _complete(self, inv: Invoice, s_inv: dict, customer: str, n: int) -> None:
        """Add the missing lines to the replacement, check the total, finalize, record."""
        doc = self.doc
        assert doc is not None
        res = self.result
        sid = s_inv["id"]
        res.stripe_invoice_id = doc.stripe_id = sid
        if s_inv.get("status") == "draft":
            self._save(state="draft_created", stripe_invoice_id=sid)
            present, _ = self.pub._stripe_lines(doc, sid)
            doc.lines = []
            for line in inv.lines:
                if line.amount_cents == 0:
                    action = R.SKIPPED_ZERO
                elif line.line_id in present:
                    action = R.ALREADY_PRESENT
                else:
                    self._add_line(inv, line, customer, sid, n)
                    action = R.ADDED
                doc.lines.append(LineOutcome(line.line_id, line.amount_cents, "", action))
            self._save(state="lines_added", stripe_invoice_id=sid)
            s_inv = self.pub._retrieve_invoice(doc, sid)
            if s_inv.get("status") == "draft":
                self._check_total(inv, s_inv, "draft not finalized")
                s_inv = self._finalize(inv, sid, n)
        if s_inv.get("status") not in _FINALIZED:
            raise DocumentFailed(f"replacement {sid} is {s_inv.get('status')}, not finalized")
        self._check_total(inv, s_inv, "finalized: void it and reissue once Meterhouse is right")
        res.stripe_status = s_inv.get("status")
        res.stripe_total = int(s_inv["total"])
        self._save(
            state="finalized",
            stripe_invoice_id=sid,
            stripe_total_cents=res.stripe_total,
            finalized_at=_from_epoch((s_inv.get("status_transitions") or {}).get("finalized_at")),
        )
        self._record(OK)

    def _check_total(self, inv: Invoice, s_inv: dict, what: str) -> None:
        total = int(s_inv["total"])
        if total != inv.total_amount_cents:
            self.result.stripe_total = total
            message = _mismatch("invoice", s_inv["id"], total, inv.total_amount_cents, inv.currency)
            self._save(state="total_mismatch", stripe_total_cents=total)
            raise DocumentFailed(f"{message} ({what})", state="total_mismatch")

    def _add_line(self, inv: Invoice, line: Any, customer: str, sid: str, n: int) -> dict:
        assert self.doc is not None
        params: dict[str, Any] = {
            "invoice": sid,
            "customer": customer,
            "amount": line.amount_cents,
            "currency": inv.currency.lower(),
            "description": line.description(),
            "metadata": {
                LINE_ID_METADATA_KEY: line.line_id,
                INVOICE_ID_METADATA_KEY: inv.invoice_id,
            },
        }
        if line.period is not None:
            params["period"] = line.period

        def lookup() -> dict | None:
            present, _ = self.pub._stripe_lines(self.doc, sid)
            found = present.get(line.line_id)
            return found[0] if found else None

        return self.pub._write(
            self.doc,
            "reissue_add_line",
            "POST /v1/invoiceitems",
            idempotency_key(line.line_id, f"reissue{n}"),
            params,
            lambda p, o: self.client.v1.invoice_items.create(p, o),
            lookup,
            line_id=line.line_id,
        )

    def _finalize(self, inv: Invoice, sid: str, n: int) -> dict:
        assert self.doc is not None

        def lookup() -> dict | None:
            obj = self.pub._retrieve_invoice(self.doc, sid)
            return obj if obj.get("status") != "draft" else None

        return self.pub._write(
            self.doc,
            "reissue_finalize",
            f"POST /v1/invoices/{sid}/finalize",
            idempotency_key(inv.invoice_id, f"reissue{n}", "finalize"),
            {"auto_advance": False},
            lambda p, o: self.client.v1.invoices.finalize_invoice(sid, p, o),
            lookup,
        )


def void_invoice(
    con: duckdb.DuckDBPyConnection,
    client: stripe.StripeClient,
    invoice_id: str,
    *,
    reason: str,
    operator: str | None = None,
    now: datetime | None = None,
    retry: RetryPolicy | None = None,
) -> OperationResult:
    """Void the Stripe invoice of a published, finalized Meterhouse invoice (see the module
    docstring). ``reason`` is required; ``operator`` defaults to ``$USER``; ``now`` is the
    timestamp recorded (default the wall clock, UTC); ``retry`` the backoff of transient errors."""
    return _Operation(con, client, VOID, invoice_id, reason, operator, now, retry).run()


def reissue_invoice(
    con: duckdb.DuckDBPyConnection,
    client: stripe.StripeClient,
    invoice_id: str,
    *,
    reason: str,
    operator: str | None = None,
    now: datetime | None = None,
    retry: RetryPolicy | None = None,
) -> OperationResult:
    """Publish a voided Meterhouse invoice again as a new Stripe invoice, exactly once, from its
    current issued lines (see the module docstring); arguments as :func:`void_invoice`."""
    return _Operation(con, client, REISSUE, invoice_id, reason, operator, now, retry).run()


def invoice_command(
    con: duckdb.DuckDBPyConnection,
    client: stripe.StripeClient,
    action: str,
    invoice_id: str,
    reason: str,
    *,
    operator: str | None = None,
    retry: RetryPolicy | None = None,
) -> int:
    """``meterhouse invoice void|reissue INVOICE_ID --reason TEXT``: run, print, exit code
    (0 done, 1 refused or failed)."""
    if action not in ACTIONS:
        print(f"unknown invoice action {action!r}: expected one of {', '.join(ACTIONS)}")
        return 1
    fn = void_invoice if action == VOID else reissue_invoice
    result = fn(con, client, invoice_id, reason=reason, operator=operator, retry=retry)
    print(result.render())
    return 0 if result.ok else 1
