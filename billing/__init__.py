"""Pay-per-use billing: the usage ledger, price lists, usage computation, budgets and invoices."""
