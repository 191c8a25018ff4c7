"""Publish a billing month's issued invoices and credit notes to Stripe, exactly once.

Per invoice (credit notes follow the same pattern, see :meth:`_Publisher.credit_note`):

1. Blocked by ``billing.publish_blockers``? Stop (``blocked``). Customer not found in Stripe by
   ``metadata['meterhouse_customer_id']``? Stop (``skipped``, ``unmapped_customer``).
2. Look before writing: the ledger's Stripe invoice id (retrieved), else Stripe itself (search by
   ``metadata['meterhouse_invoice_id']``, then the customer's invoice list, which unlike search is
   strongly consistent). Finalized there: nothing to send (``already_published``, or ``resumed``
   when the ledger did not know yet). A draft: resume it.
3. Create the draft if none exists; list its lines (their ``meterhouse_invoice_line_id``) and add
   only the missing ones, one invoice item per line with the integer ``amount`` in minor units.
4. Check the draft's total against ``total_amount_cents``; a difference stops the invoice
   (``total_mismatch``, both amounts in the error) before anything is finalized. Finalize, and
   check the finalized total again.

Every write carries an idempotency key derived from Meterhouse ids (see ``ledger``). When Stripe
answers a *stored* error for a key (a 500 after execution began, replayed for that key), the
publisher does not retry the key: it looks the object up; found, it carries on with it; not
found, it writes again under a new key suffix recorded in the ledger. So neither a crash at any
point, nor a rerun days later (after Stripe forgot the keys), creates anything twice: the lookup
comes first, and the key only guards the window the lookup cannot see.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import duckdb
import stripe

from . import report as R
from .calls import Caller, RetryPolicy, StripeCallFailed
from .ledger import DocumentState, Ledger, idempotency_key
from .report import DocumentOutcome, LineOutcome, PublishReport
from .source import (
    Blocker,
    CreditNote,
    Invoice,
    InvoiceLine,
    format_amount,
    load_blockers,
    load_credit_notes,
    load_invoices,
)

CUSTOMER_ID_METADATA_KEY = "meterhouse_customer_id"
INVOICE_ID_METADATA_KEY = "meterhouse_invoice_id"
BILLING_MONTH_METADATA_KEY = "meterhouse_billing_month"
LINE_ID_METADATA_KEY = "meterhouse_invoice_line_id"
CREDIT_NOTE_ID_METADATA_KEY = "meterhouse_credit_note_id"

DEFAULT_DAYS_UNTIL_DUE = 30
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class DocumentFailed(Exception):
    """Stops one document; ``state`` (when set) is recorded in the ledger."""

    def __init__(self, message: str, state: str | None = None) -> None:
        super().__init__(message)
        self.state = state


class DocumentSkipped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _search_value(value: str) -> str | None:
    """A search-query literal for ``value`` (None when it holds both quote characters)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return None


def _clock(now: datetime | None) -> Callable[[], datetime]:
    if now is not None:
        fixed = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
        return lambda: fixed
    return lambda: datetime.now(UTC).replace(tzinfo=None)


def _from_epoch(value: Any) -> datetime | None:
    if not isinstance(value, int):
        return None
    return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)


def _mismatch(what: str, stripe_id: str, stripe_total: int, expected: int, currency: str) -> str:
    return (
        f"total mismatch on {what} {stripe_id}: Stripe total {stripe_total} "
        f"({format_amount(stripe_total, currency)}) != Meterhouse total {expected} "
        f"({format_amount(expected, currency)}); left as is for a person to resolve"
    )


class _Publisher:
    def __init__(
        self,
        client: stripe.StripeClient,
        ledger: Ledger,
        caller: Caller,
        *,
        dry_run: bool,
        days_until_due: int,
        blockers: list[Blocker] | None,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.caller = caller
        self.dry_run = dry_run
        self.days_until_due = days_until_due
        self.blockers = blockers
        self._customers: dict[str, tuple[str | None, str | None]] = {}

    # --- calls ----------------------------------------------------------------------------

    def _read(
        self,
        doc: DocumentOutcome,
        endpoint: str,
        fn: Callable[[dict[str, Any] | None, dict[str, Any]], Any],
        params: dict[str, Any] | None = None,
        *,
        step: str = "lookup",
        line_id: str | None = None,
        allow_missing: bool = False,
    ) -> dict[str, Any] | None:
        try:
            return self.caller.call(
                step=step,
                document_type=doc.document_type,
                document_id=doc.document_id,
                line_id=line_id,
                endpoint=endpoint,
                params=params,
                fn=fn,
            )
        except StripeCallFailed as err:
            if allow_missing and err.outcome == "not_found":
                return None
            raise DocumentFailed(str(err)) from err

    def _write(
        self,
        doc: DocumentOutcome,
        step: str,
        endpoint: str,
        base_key: str,
        params: dict[str, Any],
        fn: Callable[[dict[str, Any] | None, dict[str, Any]], Any],
        lookup: Callable[[], dict[str, Any] | None],
        *,
        line_id: str | None = None,
    ) -> dict[str, Any]:
        """A write under its idempotency key; a stored error is resolved by ``lookup``."""
        assert not self.dry_run
        last: StripeCallFailed | None = None
        for _ in range(2):  # at most one new key per run
            key = self.ledger.current_key(
                doc.document_type, doc.document_id, line_id, step, base_key
            )
            try:
                return self.caller.call(
                    step=step,
                    document_type=doc.document_type,
                    document_id=doc.document_id,
                    line_id=line_id,
                    endpoint=endpoint,
                    params=params,
                    fn=fn,
                    idempotency_key=key,
                )
            except StripeCallFailed as err:
                if err.outcome != "stored_error":
                    raise DocumentFailed(str(err)) from err
                last = err
                found = lookup()
                if found is not None:
                    return found
        raise DocumentFailed(f"{last}; the lookup found nothing twice, giving up for this run")

    # --- customers --------------------------------------------------------------------------

    def _customer(self, doc: DocumentOutcome) -> str:
        """The Stripe customer carrying this Meterhouse customer id (skip when none or several)."""
        customer_id = doc.customer_id
        if customer_id not in self._customers:
            literal = _search_value(customer_id)
            found: list[str] = []
            if literal is not None:
                query = f"metadata['{CUSTOMER_ID_METADATA_KEY}']:{literal}"
                page = self._read(
                    doc,
                    "GET /v1/customers/search",
                    lambda p, o: self.client.v1.customers.search(p, o),
                    {"query": query, "limit": 10},
                    step="find_customer",
                )
                found = [c["id"] for c in (page or {}).get("data", [])]
            if not found:
                self._customers[customer_id] = (None, "unmapped_customer")
            elif len(found) > 1:
                self._customers[customer_id] = (None, f"ambiguous_customer: {', '.join(found)}")
            else:
                self._customers[customer_id] = (found[0], None)
        stripe_id, reason = self._customers[customer_id]
        if stripe_id is None:
            raise DocumentSkipped(reason or "unmapped_customer")
        doc.stripe_customer_id = stripe_id
        return stripe_id

    # --- lookups ----------------------------------------------------------------------------

    def _find_invoices(self, doc: DocumentOutcome, mh_invoice_id: str, customer: str) -> list[dict]:
        """Stripe invoices whose metadata names this Meterhouse invoice (search, then list)."""
        found: list[dict] = []
        literal = _search_value(mh_invoice_id)
        if literal is not None:
            params: dict[str, Any] = {
                "query": f"metadata['{INVOICE_ID_METADATA_KEY}']:{literal}",
                "limit": 100,
            }
            while True:
                page = self._read(
                    doc,
                    "GET /v1/invoices/search",
                    lambda p, o: self.client.v1.invoices.search(p, o),
                    dict(params),
                )
                assert page is not None
                found.extend(page.get("data", []))
                if not page.get("has_more") or not page.get("next_page"):
                    break
                params["page"] = page["next_page"]
        if found:
            return found
        # search lags writes (about a minute on Stripe); the customer's list does not
        params = {"customer": customer, "limit": 100}
        while True:
            page = self._read(
                doc,
                "GET /v1/invoices",
                lambda p, o: self.client.v1.invoices.list(p, o),
                dict(params),
            )
            assert page is not None
            data = page.get("data", [])
            found.extend(
                i
                for i in data
                if (i.get("metadata") or {}).get(INVOICE_ID_METADATA_KEY) == mh_invoice_id
            )
            if not page.get("has_more") or not data:
                break
            params["starting_after"] = data[-1]["id"]
        return found

    @staticmethod
    def _pick(candidates: list[dict], what: str, void_reason: str) -> dict | None:
        live = [c for c in candidates if c.get("status") != "void" and not c.get("deleted")]
        if len(live) > 1:
            ids = ", ".join(c["id"] for c in live)
            raise DocumentFailed(
                f"{len(live)} Stripe objects carry {what} ({ids}): resolve by hand "
                "(void or delete the extras), nothing was sent"
            )
        if live:
            return live[0]
        if candidates:
            raise DocumentSkipped(void_reason)
        return None

    def _existing_invoice(
        self,
        doc: DocumentOutcome,
        mh_invoice_id: str,
        prior: DocumentState | None,
        customer: str,
        void_reason: str,
    ) -> dict | None:
        obj = None
        if prior is not None and prior.stripe_invoice_id:
            sid = prior.stripe_invoice_id
            obj = self._read(
                doc,
                f"GET /v1/invoices/{sid}",
                lambda p, o: self.client.v1.invoices.retrieve(sid, p, o),
                allow_missing=True,
            )
            if obj is not None and (obj.get("deleted") or obj.get("status") == "void"):
                obj = None
        if obj is None:
            obj = self._pick(
                self._find_invoices(doc, mh_invoice_id, customer),
                f"{INVOICE_ID_METADATA_KEY}={mh_invoice_id}",
                void_reason,
            )
        if obj is not None and obj.get("customer") != customer:
            raise DocumentFailed(
                f"Stripe invoice {obj['id']} for {mh_invoice_id} belongs to customer "
                f"{obj.get('customer')}, not {customer}"
            )
        return obj

    def _retrieve_invoice(self, doc: DocumentOutcome, sid: str) -> dict:
        obj = self._read(
            doc, f"GET /v1/invoices/{sid}", lambda p, o: self.client.v1.invoices.retrieve(sid, p, o)
        )
        assert obj is not None
        return obj

    def _stripe_lines(self, doc: DocumentOutcome, sid: str) -> tuple[dict[str, list[dict]], list]:
        """The invoice's lines by Meterhouse line id, and the lines without one."""
        by_id: dict[str, list[dict]] = {}
        strays: list[dict] = []
        params: dict[str, Any] = {"limit": 100}
        while True:
            page = self._read(
                doc,
                f"GET /v1/invoices/{sid}/lines",
                lambda p, o: self.client.v1.invoices.line_items.list(sid, p, o),
                dict(params),
            )
            assert page is not None
            data = page.get("data", [])
            for line in data:
                mh_id = (line.get("metadata") or {}).get(LINE_ID_METADATA_KEY)
                if mh_id:
                    by_id.setdefault(mh_id, []).append(line)
                else:
                    strays.append(line)
            if not page.get("has_more") or not data:
                break
            params["starting_after"] = data[-1]["id"]
        return by_id, strays

    # --- blockers -------------------------------------------------------------------------

    def _blocked(self, doc: DocumentOutcome) -> bool:
        if not self.blockers:
            return False
        hits = [b for b in self.blockers if b.customer_id in (None, doc.customer_id)]
        if not hits:
            return False
        doc.outcome = R.BLOCKED
        doc.check_name, doc.reason = hits[0].check_name, hits[0].reason
        doc.blockers = [(b.check_name, b.reason) for b in hits]
        return True

    # --- invoices ---------------------------------------------------------------------------

    def invoice(self, inv: Invoice) -> DocumentOutcome:
        doc = DocumentOutcome(
            "invoice", inv.invoice_id, inv.customer_id, inv.currency, inv.total_amount_cents
        )
        doc.lines = [
            LineOutcome(
                line.line_id,
                line.amount_cents,
                line.description(),
                R.SKIPPED_ZERO if line.amount_cents == 0 else R.NOT_SENT,
            )
            for line in inv.lines
        ]
        if self._blocked(doc):
            return doc
        try:
            self._invoice(inv, doc)
        except DocumentSkipped as skip:
            doc.outcome, doc.reason = R.SKIPPED, skip.reason
        except DocumentFailed as fail:
            doc.outcome, doc.error = R.FAILED, str(fail)
            self._save_invoice(inv, doc, state=fail.state, last_error=str(fail))
        return doc

    def _save_invoice(self, inv: Invoice, doc: DocumentOutcome, **kw: Any) -> None:
        self.ledger.save_document(
            document_type="invoice",
            document_id=inv.invoice_id,
            customer_id=inv.customer_id,
            billing_month=inv.billing_month,
            currency=inv.currency,
            meterhouse_total_cents=inv.total_amount_cents,
            stripe_customer_id=doc.stripe_customer_id,
            stripe_invoice_id=doc.stripe_id,
            **kw,
        )

    def _invoice(self, inv: Invoice, doc: DocumentOutcome) -> None:
        lines_sum = sum(line.amount_cents for line in inv.lines)
        if lines_sum != inv.total_amount_cents:
            raise DocumentFailed(
                f"Meterhouse lines sum to {lines_sum} but total_amount_cents is "
                f"{inv.total_amount_cents}: not sent"
            )
        customer = self._customer(doc)
        prior = self.ledger.document("invoice", inv.invoice_id)
        s_inv = self._existing_invoice(doc, inv.invoice_id, prior, customer, "voided_in_stripe")
        if s_inv is not None:
            doc.stripe_id = s_inv["id"]
            if str(s_inv.get("currency", "")).upper() != inv.currency:
                raise DocumentFailed(
                    f"Stripe invoice {s_inv['id']} is in {s_inv.get('currency')}, "
                    f"Meterhouse invoice in {inv.currency}"
                )
            if s_inv["status"] != "draft":
                self._already_finalized(inv, doc, s_inv, prior)
                return
        pre_existing = s_inv is not None
        present: dict[str, list[dict]] = {}
        if s_inv is not None:
            present, _ = self._stripe_lines(doc, s_inv["id"])
        for line, out in zip(inv.lines, doc.lines, strict=True):
            if line.line_id in present:
                out.action = R.ALREADY_PRESENT
                out.stripe_id = present[line.line_id][0]["id"]
        if self.dry_run:
            for out in doc.lines:
                if out.action == R.NOT_SENT:
                    out.action = R.WOULD_ADD
            doc.outcome = R.WOULD_PUBLISH
            if pre_existing:
                doc.reason = f"would resume draft {doc.stripe_id}"
            return

        if s_inv is None:
            s_inv = self._create_invoice(inv, doc, customer)
            doc.stripe_id = s_inv["id"]
        self._save_invoice(inv, doc, state="draft_created")
        sid = s_inv["id"]
        for line, out in zip(inv.lines, doc.lines, strict=True):
            if out.action != R.NOT_SENT:
                continue
            item = self._add_line(inv, line, doc, customer, sid)
            out.action, out.stripe_id = R.ADDED, item.get("id")
        self._save_invoice(inv, doc, state="lines_added")

        draft = self._retrieve_invoice(doc, sid)
        if draft["status"] == "draft":
            if int(draft["total"]) != inv.total_amount_cents:
                self._raise_mismatch(inv, doc, draft, before_finalize=True)
            draft = self._finalize(inv, doc, sid)
        if int(draft["total"]) != inv.total_amount_cents:
            self._raise_mismatch(inv, doc, draft, before_finalize=False)
        doc.stripe_total = int(draft["total"])
        self._save_invoice(
            inv,
            doc,
            state="finalized",
            stripe_total_cents=doc.stripe_total,
            finalized_at=_from_epoch((draft.get("status_transitions") or {}).get("finalized_at")),
        )
        doc.outcome = R.RESUMED if pre_existing else R.PUBLISHED

    def _raise_mismatch(
        self, inv: Invoice, doc: DocumentOutcome, s_inv: dict, *, before_finalize: bool
    ) -> None:
        total = int(s_inv["total"])
        doc.stripe_total = total
        message = _mismatch("invoice", s_inv["id"], total, inv.total_amount_cents, inv.currency)
        if before_finalize:
            by_id, strays = self._stripe_lines(doc, s_inv["id"])
            dupes = sorted(k for k, v in by_id.items() if len(v) > 1)
            unknown = sorted(set(by_id) - {line.line_id for line in inv.lines})
            details = []
            if strays:
                details.append(
                    f"{len(strays)} Stripe line(s) without a Meterhouse line id "
                    f"(sum {sum(int(s['amount']) for s in strays)})"
                )
            if dupes:
                details.append(f"lines present more than once: {', '.join(dupes)}")
            if unknown:
                details.append(f"lines not on the Meterhouse invoice: {', '.join(unknown)}")
            message += "; draft not finalized" + (f" ({'; '.join(details)})" if details else "")
        if not self.dry_run:
            self._save_invoice(inv, doc, state="total_mismatch", stripe_total_cents=total)
        raise DocumentFailed(message, state="total_mismatch")

    def _already_finalized(
        self, inv: Invoice, doc: DocumentOutcome, s_inv: dict, prior: DocumentState | None
    ) -> None:
        present, _ = self._stripe_lines(doc, s_inv["id"])
        for out in doc.lines:
            if out.line_id in present:
                out.action = R.ALREADY_PRESENT
                out.stripe_id = present[out.line_id][0]["id"]
        if int(s_inv["total"]) != inv.total_amount_cents:
            self._raise_mismatch(inv, doc, s_inv, before_finalize=False)
        doc.stripe_total = int(s_inv["total"])
        self._save_invoice(
            inv,
            doc,
            state="finalized",
            stripe_total_cents=doc.stripe_total,
            finalized_at=_from_epoch((s_inv.get("status_transitions") or {}).get("finalized_at")),
        )
        done_before = prior is not None and prior.state == "finalized"
        doc.outcome = R.ALREADY_PUBLISHED if done_before else R.RESUMED
        if not done_before:
            doc.reason = "finalized in Stripe already; ledger brought up to date"

    def _create_invoice(self, inv: Invoice, doc: DocumentOutcome, customer: str) -> dict:
        params = {
            "customer": customer,
            "currency": inv.currency.lower(),
            "auto_advance": False,
            "collection_method": "send_invoice",
            "days_until_due": self.days_until_due,
            "pending_invoice_items_behavior": "exclude",
            "description": f"Meterhouse invoice {inv.invoice_id} ({inv.billing_month})",
            "metadata": {
                INVOICE_ID_METADATA_KEY: inv.invoice_id,
                BILLING_MONTH_METADATA_KEY: inv.billing_month,
                CUSTOMER_ID_METADATA_KEY: inv.customer_id,
            },
        }

        def lookup() -> dict | None:
            return self._pick(
                self._find_invoices(doc, inv.invoice_id, customer),
                f"{INVOICE_ID_METADATA_KEY}={inv.invoice_id}",
                "voided_in_stripe",
            )

        return self._write(
            doc,
            "create_invoice",
            "POST /v1/invoices",
            idempotency_key(inv.invoice_id, "create"),
            params,
            lambda p, o: self.client.v1.invoices.create(p, o),
            lookup,
        )

    def _add_line(
        self, inv: Invoice, line: InvoiceLine, doc: DocumentOutcome, customer: str, sid: str
    ) -> dict:
        params: dict[str, Any] = {
            "invoice": sid,
            "customer": customer,
            "amount": line.amount_cents,  # the rounded line total: never quantity x unit price
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
            present, _ = self._stripe_lines(doc, sid)
            found = present.get(line.line_id)
            return found[0] if found else None

        return self._write(
            doc,
            "add_line",
            "POST /v1/invoiceitems",
            idempotency_key(line.line_id),
            params,
            lambda p, o: self.client.v1.invoice_items.create(p, o),
            lookup,
            line_id=line.line_id,
        )

    def _finalize(self, inv: Invoice, doc: DocumentOutcome, sid: str) -> dict:
        def lookup() -> dict | None:
            obj = self._retrieve_invoice(doc, sid)
            return obj if obj["status"] != "draft" else None

        return self._write(
            doc,
            "finalize",
            f"POST /v1/invoices/{sid}/finalize",
            idempotency_key(inv.invoice_id, "finalize"),
            {"auto_advance": False},
            lambda p, o: self.client.v1.invoices.finalize_invoice(sid, p, o),
            lookup,
        )

    # --- credit notes -----------------------------------------------------------------------

    def credit_note(self, cn: CreditNote) -> DocumentOutcome:
        doc = DocumentOutcome(
            "credit_note",
            cn.credit_note_id,
            cn.customer_id,
            cn.currency,
            cn.total_amount_cents,
            original_invoice_id=cn.invoice_id,
        )
        doc.lines = [
            LineOutcome(line_id, amount, f"credited against {cn.invoice_id}", R.NOT_SENT)
            for line_id, amount in cn.line_amounts
        ]
        if self._blocked(doc):
            return doc
        try:
            self._credit_note(cn, doc)
        except DocumentSkipped as skip:
            doc.outcome, doc.reason = R.SKIPPED, skip.reason
        except DocumentFailed as fail:
            doc.outcome, doc.error = R.FAILED, str(fail)
            self._save_credit_note(cn, doc, state=fail.state, last_error=str(fail))
        return doc

    def _save_credit_note(self, cn: CreditNote, doc: DocumentOutcome, **kw: Any) -> None:
        self.ledger.save_document(
            document_type="credit_note",
            document_id=cn.credit_note_id,
            customer_id=cn.customer_id,
            billing_month=cn.billing_month,
            currency=cn.currency,
            meterhouse_total_cents=cn.total_amount_cents,
            original_invoice_id=cn.invoice_id,
            stripe_customer_id=doc.stripe_customer_id,
            stripe_invoice_id=doc.stripe_invoice_id,
            stripe_credit_note_id=doc.stripe_id,
            **kw,
        )

    def _find_credit_notes(self, doc: DocumentOutcome, sid: str, cn_id: str) -> list[dict]:
        found: list[dict] = []
        params: dict[str, Any] = {"invoice": sid, "limit": 100}
        while True:
            page = self._read(
                doc,
                "GET /v1/credit_notes",
                lambda p, o: self.client.v1.credit_notes.list(p, o),
                dict(params),
            )
            assert page is not None
            data = page.get("data", [])
            found.extend(
                c
                for c in data
                if (c.get("metadata") or {}).get(CREDIT_NOTE_ID_METADATA_KEY) == cn_id
            )
            if not page.get("has_more") or not data:
                break
            params["starting_after"] = data[-1]["id"]
        return found

    def _credit_note(self, cn: CreditNote, doc: DocumentOutcome) -> None:
        if cn.total_amount_cents <= 0:
            raise DocumentSkipped("zero_amount")
        customer = self._customer(doc)
        original_prior = self.ledger.document("invoice", cn.invoice_id)
        original = self._existing_invoice(
            doc, cn.invoice_id, original_prior, customer, "original_not_published"
        )
        if original is None or original["status"] == "draft":
            raise DocumentSkipped("original_not_published")
        doc.stripe_invoice_id = original["id"]
        if str(original.get("currency", "")).upper() != cn.currency:
            raise DocumentFailed(
                f"Stripe invoice {original['id']} is in {original.get('currency')}, "
                f"credit note in {cn.currency}"
            )
        sid = original["id"]
        prior = self.ledger.document("credit_note", cn.credit_note_id)
        existing = None
        if prior is not None and prior.stripe_credit_note_id:
            cid = prior.stripe_credit_note_id
            existing = self._read(
                doc,
                f"GET /v1/credit_notes/{cid}",
                lambda p, o: self.client.v1.credit_notes.retrieve(cid, p, o),
                allow_missing=True,
            )
            if existing is not None and existing.get("status") == "void":
                existing = None
        if existing is None:
            existing = self._pick(
                self._find_credit_notes(doc, sid, cn.credit_note_id),
                f"{CREDIT_NOTE_ID_METADATA_KEY}={cn.credit_note_id}",
                "voided_in_stripe",
            )
        if existing is not None:
            doc.stripe_id = existing["id"]
            self._credit_note_done(cn, doc, existing)
            done_before = prior is not None and prior.state == "issued"
            doc.outcome = R.ALREADY_PUBLISHED if done_before else R.RESUMED
            return
        if self.dry_run:
            for out in doc.lines:
                out.action = "would_credit"
            doc.outcome = R.WOULD_PUBLISH
            return

        params = {
            "invoice": sid,
            "amount": cn.total_amount_cents,
            "memo": (
                f"Meterhouse credit note {cn.credit_note_id}: {cn.lines_count} line(s) "
                f"credited against invoice {cn.invoice_id}"
            )[:500],
            "metadata": {
                CREDIT_NOTE_ID_METADATA_KEY: cn.credit_note_id,
                INVOICE_ID_METADATA_KEY: cn.invoice_id,
                BILLING_MONTH_METADATA_KEY: cn.billing_month,
                CUSTOMER_ID_METADATA_KEY: cn.customer_id,
            },
        }

        def lookup() -> dict | None:
            return self._pick(
                self._find_credit_notes(doc, sid, cn.credit_note_id),
                f"{CREDIT_NOTE_ID_METADATA_KEY}={cn.credit_note_id}",
                "voided_in_stripe",
            )

        created = self._write(
            doc,
            "create_credit_note",
            "POST /v1/credit_notes",
            idempotency_key(cn.credit_note_id, "create"),
            params,
            lambda p, o: self.client.v1.credit_notes.create(p, o),
            lookup,
        )
        doc.stripe_id = created["id"]
        self._credit_note_done(cn, doc, created)
        doc.outcome = R.PUBLISHED

    def _credit_note_done(self, cn: CreditNote, doc: DocumentOutcome, obj: dict) -> None:
        total = int(obj["total"])
        doc.stripe_total = total
        for out in doc.lines:
            out.action = "credited"
        if total != cn.total_amount_cents:
            if not self.dry_run:
                self._save_credit_note(cn, doc, state="total_mismatch", stripe_total_cents=total)
            raise DocumentFailed(
                _mismatch("credit note", obj["id"], total, cn.total_amount_cents, cn.currency),
                state="total_mismatch",
            )
        self._save_credit_note(
            cn,
            doc,
            state="issued",
            stripe_total_cents=total,
            finalized_at=_from_epoch(obj.get("created")),
        )


@contextmanager
def _one_transaction(con: duckdb.DuckDBPyConnection, enabled: bool) -> Iterator[None]:
    """A document's ledger rows in one transaction: one commit (one WAL sync) per document instead of
    one per row. Committed on the way out whatever happens, so a failure keeps what was recorded, as
    autocommit did; a process killed mid-document loses that document's rows, which the lookup in
    Stripe by metadata recovers on the next run (the crash tests cover it)."""
    if not enabled:
        yield
        return
    con.execute("begin transaction")
    try:
        yield
    finally:
        con.execute("commit")


def publish_month(
    con: duckdb.DuckDBPyConnection,
    client: stripe.StripeClient,
    billing_month: str,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    retry: RetryPolicy | None = None,
    days_until_due: int = DEFAULT_DAYS_UNTIL_DUE,
    max_new: int | None = None,
) -> PublishReport:
    """Publish the month's issued invoices, then its credit notes, to Stripe exactly once.

    ``max_new``: stop sending after this many documents were published or resumed (a batch size
    for rate limits or a short run); the rest are reported ``skipped`` with reason ``batch_limit``
    and go out with the next run, exactly once as always.

    ``con`` reads ``billing.*`` and (unless ``dry_run``) writes the publication ledger
    (``raw.stripe_publications``, ``raw.stripe_published_documents``, created if missing).
    ``dry_run``: Stripe is only read and nothing is written anywhere; the report lists what would
    be sent. ``now``: the timestamp recorded on ledger rows (default: the wall clock, UTC).
    ``retry``: backoff for 429 / unstored 5xx / connection errors (tests pass short delays).
    Errors of one document are reported and the run goes on; anything that is not a Stripe
    error (a crash) propagates, and a rerun resumes from what exists.
    """
    if not _MONTH.match(billing_month):
        raise ValueError(f"billing_month must be YYYY-MM, got {billing_month!r}")
    run_id = f"pub-{billing_month}-{uuid.uuid4().hex[:12]}"
    ledger = Ledger(con, run_id, _clock(now), writable=not dry_run)
    caller = Caller(ledger, retry or RetryPolicy())
    publisher = _Publisher(
        client,
        ledger,
        caller,
        dry_run=dry_run,
        days_until_due=days_until_due,
        blockers=load_blockers(con, billing_month),
    )
    report = PublishReport(billing_month=billing_month, dry_run=dry_run, run_id=run_id)
    sent = 0

    def over_budget(
        document_type: str, document_id: str, customer_id: str, currency: str, amount: int
    ):
        if max_new is None or sent < max_new:
            return None
        return DocumentOutcome(
            document_type,
            document_id,
            customer_id,
            currency,
            amount,
            outcome=R.SKIPPED,
            reason=f"batch_limit: {max_new} documents sent by this run; the next run sends this one",
        )

    try:
        for inv in load_invoices(con, billing_month):
            deferred = over_budget(
                "invoice", inv.invoice_id, inv.customer_id, inv.currency, inv.total_amount_cents
            )
            if deferred is not None:
                report.documents.append(deferred)
                continue
            with _one_transaction(con, not dry_run):
                outcome = publisher.invoice(inv)
            report.documents.append(outcome)
            sent += outcome.outcome in (R.PUBLISHED, R.RESUMED)
        for cn in load_credit_notes(con, billing_month):
            deferred = over_budget(
                "credit_note", cn.credit_note_id, cn.customer_id, cn.currency, cn.total_amount_cents
            )
            if deferred is not None:
                report.documents.append(deferred)
                continue
            with _one_transaction(con, not dry_run):
                outcome = publisher.credit_note(cn)
            report.documents.append(outcome)
            sent += outcome.outcome in (R.PUBLISHED, R.RESUMED)
    finally:
        report.stripe_calls, report.stripe_writes = caller.calls, caller.writes
    return report


def ensure_demo_customers(
    con: duckdb.DuckDBPyConnection,
    client: stripe.StripeClient,
    *,
    customer_ids: list[str] | None = None,
    retry: RetryPolicy | None = None,
) -> dict[str, str]:
    """Create the Stripe customers missing for Meterhouse customers (demo / emulator only).

    ``customer_ids`` defaults to every customer with an issued invoice or a credit note. Each
    gets ``metadata[meterhouse_customer_id]``; existing ones (found by that metadata) are kept.
    Returns Meterhouse customer id -> Stripe customer id. Nothing is written to the ledger.
    """
    if customer_ids is None:
        sql = "select customer_id from billing.fct_issued_invoices"
        if con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'billing' and table_name = 'fct_credit_notes'"
        ).fetchall()[0][0]:
            sql += " union select customer_id from billing.fct_credit_notes"
        customer_ids = [r[0] for r in con.execute(f"select * from ({sql}) order by 1").fetchall()]
    ledger = Ledger(con, f"demo-{uuid.uuid4().hex[:12]}", _clock(None), writable=False)
    caller = Caller(ledger, retry or RetryPolicy())
    out: dict[str, str] = {}
    for customer_id in customer_ids:
        common = {"document_type": "customer", "document_id": customer_id, "line_id": None}
        literal = _search_value(customer_id)
        existing: list[dict] = []
        if literal is not None:
            page = caller.call(
                step="find_customer",
                endpoint="GET /v1/customers/search",
                params={"query": f"metadata['{CUSTOMER_ID_METADATA_KEY}']:{literal}"},
                fn=lambda p, o: client.v1.customers.search(p, o),
                **common,
            )
            existing = page.get("data", [])
        if existing:
            out[customer_id] = existing[0]["id"]
            continue
        created = caller.call(
            step="create_customer",
            endpoint="POST /v1/customers",
            params={
                "name": customer_id,
                "description": f"Meterhouse customer {customer_id} (demo)",
                "metadata": {CUSTOMER_ID_METADATA_KEY: customer_id},
            },
            fn=lambda p, o: client.v1.customers.create(p, o),
            idempotency_key=idempotency_key("customer", customer_id),
            **common,
        )
        out[customer_id] = created["id"]
    return out
