"""Store-and-forward sync: wire protocol, daemon, verifiable log and the reference cloud."""
