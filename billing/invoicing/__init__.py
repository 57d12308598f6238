"""Invoices: drafts, issue, numbers, credit notes (services); their lines and reads.

- `services`: every write (draft one tenant or every tenant's month, issue, credit).
- `lines`: a draft's lines, computed from the ledger by rating whenever they are needed, and
  the digest a reviewer issues against.
- `numbering`: the gapless yearly numbers.
- `selectors`: the invoices and lines a user may read.
- `views`, `forms`: the finance pages. Exports are `billing.exports` (shared with usage reports).

The names below are the package's public interface: `from billing import invoicing`.
"""

from billing.invoicing.lines import (
    LINE_FIELDS,
    DraftLine,
    as_draft_lines,
    draft_lines,
    lines_digest,
)
from billing.invoicing.selectors import invoice_lines, invoice_list, invoice_tenant_choices
from billing.invoicing.services import (
    EmptyInvoiceError,
    invoice_credit,
    invoice_draft,
    invoice_issue,
    invoice_period,
    invoices_draft_due,
)

__all__ = [
    "EmptyInvoiceError",
    "LINE_FIELDS",
    "DraftLine",
    "as_draft_lines",
    "draft_lines",
    "invoice_credit",
    "invoice_draft",
    "invoice_issue",
    "invoice_lines",
    "invoice_list",
    "invoice_period",
    "invoice_tenant_choices",
    "invoices_draft_due",
    "lines_digest",
]
