"""The console's screens: connect/pair, sell (and pay, receipt), orders, drops, sync, numbers."""
