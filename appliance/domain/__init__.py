"""Pure business rules: money, catalogue, orders, drops, offline policy. Stdlib only, no I/O."""
