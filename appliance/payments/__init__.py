"""Payment QR payloads per rail and their rendering. Pure code."""
