"""Quotas per tenant and environment, their accounting, and quota increase requests."""
