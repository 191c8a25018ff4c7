"""What one publish run did (or, in a dry run, would do), per document and in total."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .source import format_amount

# document outcomes
PUBLISHED = "published"  # created in Stripe and finalized (issued) by this run
ALREADY_PUBLISHED = "already_published"  # already complete in Stripe: nothing sent
RESUMED = "resumed"  # found in Stripe unfinished (or unrecorded) and completed by this run
SKIPPED = "skipped"  # not publishable now (reason: unmapped_customer, original_not_published...)
BLOCKED = "blocked"  # stopped by billing.publish_blockers (check_name + reason)
FAILED = "failed"  # an error stopped it (error); a rerun resumes from what exists
WOULD_PUBLISH = "would_publish"  # dry run: would be created (or completed) in Stripe
OUTCOMES = (
    PUBLISHED,
    RESUMED,
    ALREADY_PUBLISHED,
    WOULD_PUBLISH,
    SKIPPED,
    BLOCKED,
    FAILED,
)

# line actions
ADDED = "added"
ALREADY_PRESENT = "already_present"
SKIPPED_ZERO = "skipped_zero"  # amount 0: not sent to Stripe
WOULD_ADD = "would_add"
NOT_SENT = "not_sent"  # the document stopped before this line


@dataclass
class LineOutcome:
    line_id: str
    amount: int  # minor units
    description: str
    action: str
    stripe_id: str | None = None  # the Stripe line (il_) or invoice item (ii_) id


@dataclass
class DocumentOutcome:
    document_type: str  # invoice | credit_note
    document_id: str
    customer_id: str
    currency: str
    amount: int  # Meterhouse total, minor units
    outcome: str = FAILED
    reason: str | None = None
    check_name: str | None = None
    error: str | None = None
    blockers: list[tuple[str, str]] = field(default_factory=list)
    stripe_customer_id: str | None = None
    stripe_id: str | None = None  # in_... / cn_...
    stripe_invoice_id: str | None = None  # a credit note's original, in Stripe
    stripe_total: int | None = None
    original_invoice_id: str | None = None
    lines: list[LineOutcome] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PublishReport:
    billing_month: str
    dry_run: bool
    run_id: str
    documents: list[DocumentOutcome] = field(default_factory=list)
    stripe_calls: int = 0  # HTTP calls made, attempts included
    stripe_writes: int = 0  # POST calls (with an idempotency key), retries not counted

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(d.outcome for d in self.documents)
        return {o: c[o] for o in OUTCOMES if c[o]}

    @property
    def ok(self) -> bool:
        """True when nothing failed (skipped and blocked documents are not failures)."""
        return not any(d.outcome == FAILED for d in self.documents)

    def by_id(self, document_id: str) -> DocumentOutcome:
        return next(d for d in self.documents if d.document_id == document_id)

    def line_counts(self) -> dict[str, int]:
        c = Counter(line.action for d in self.documents for line in d.lines)
        return dict(sorted(c.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "billing_month": self.billing_month,
            "dry_run": self.dry_run,
            "run_id": self.run_id,
            "counts": self.counts,
            "line_counts": self.line_counts(),
            "stripe_calls": self.stripe_calls,
            "stripe_writes": self.stripe_writes,
            "ok": self.ok,
            "documents": [d.to_dict() for d in self.documents],
        }

    def render(self) -> str:
        title = "Stripe publish" + (" (dry run: nothing sent)" if self.dry_run else "")
        lines = [f"{title} for {self.billing_month}, run {self.run_id}"]
        counts = ", ".join(f"{n} {o}" for o, n in self.counts.items()) or "no documents"
        lines.append(
            f"{len(self.documents)} document(s): {counts}; "
            f"{self.stripe_calls} Stripe call(s), {self.stripe_writes} write(s)"
        )
        for d in self.documents:
            kind = "invoice" if d.document_type == "invoice" else "credit note"
            head = (
                f"- {kind} {d.document_id} ({d.customer_id}, "
                f"{format_amount(d.amount, d.currency)}): {d.outcome}"
            )
            if d.stripe_id:
                head += f" -> {d.stripe_id}"
            if d.outcome == BLOCKED:
                head += f" by {d.check_name}: {d.reason}"
                for check, reason in d.blockers[1:]:
                    head += f"; also {check}: {reason}"
            elif d.reason:
                head += f" ({d.reason})"
            if d.error:
                head += f"\n    error: {d.error}"
            if d.original_invoice_id:
                head += f"\n    against invoice {d.original_invoice_id}"
                if d.stripe_invoice_id:
                    head += f" ({d.stripe_invoice_id})"
            lines.append(head)
            for line in d.lines:
                lines.append(
                    f"    {line.action:<15} {format_amount(line.amount, d.currency):>16}  "
                    f"{line.line_id}: {line.description}"
                )
        return "\n".join(lines)
