"""SQLite storage: connection setup, migrations, the single writer and the readers."""
