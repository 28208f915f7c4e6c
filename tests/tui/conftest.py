"""The console tests' shared fixtures, found by pytest without an import in each test module.

They are written, and type-checked, in console_support.py (tests/e2e/test_disk_full.py imports
them from there too); this file only names them for pytest. mypy leaves it out (pyproject.toml):
with test folders that are not packages, every conftest.py is a module named `conftest`, and
tests/services/ has one already.
"""

from console_support import anyio_backend, app, stall

__all__ = ["anyio_backend", "app", "stall"]  # fixtures, used by name
