"""How long a pass's text may be, without the pass code's imports.

The console's wire types (appliance/api/pass_schemas.py) bound a pass read at the till by it;
loading appliance.passes.trust for one number brought cbor2, COSE and Ed25519 into the
console's start (docs/performance/2026-12-05-console-start-without-httpx.md).
"""

MAX_TEXT = 2048  # characters of a pass as text; a QR code holds about 4,000 alphanumerics
