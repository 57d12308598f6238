"""Rating: the usage ledger valued into lines with the price lists.

- `billing.rating.python`: the reference, a pure function of events, price lists and a period
  (usage reports, exports, cost pages, budgets, and VMs with snapshots everywhere).
- `billing.rating.sql`: the one SQL path, over the ledger's intervals (PostgreSQL), held equal
  to the reference line by line by tests/billing/test_rating_sql.py.
- `billing.rating.lines`: the billable lines and their per-tenant counts and totals for a set of
  tenants, from one engine chosen in one place: a draft's header and its lines (shown, exported,
  issued) are always computed the same way.
"""
