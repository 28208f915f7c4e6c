"""The service tests' fixtures, written in services_support.py; this file only names them for pytest."""

from services_support import box, clock

__all__ = ["box", "clock"]  # fixtures, used by name
