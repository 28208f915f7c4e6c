"""Widgets shared by the console's screens: status bar and banner, QR code, big figures."""
