"""Metering and pay-per-use billing: the usage ledger, price lists and usage computation."""
