"""Use cases that join the domain, the store and the ledger."""
