"""What every cloud route checks before its work: the admin token, and a body within its limit.

One copy, so the token's comparison (constant time, `Bearer` only) and the 413 before reading a
too-large body are the same on every route (app.py, flag_routes.py, passes.py, pass_overs.py).
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from sync.errors import AuthError, BatchInvalid


def require_admin(request: Request) -> None:
    """Raise AuthError unless the request carries the cloud's admin token as `Bearer`."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    admin: str = request.app.state.admin_token
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), admin):
        raise AuthError("Authorization: the admin token is needed (Bearer)")


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing (413) one over `limit` bytes before reading it all."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise BatchInvalid(f"body: {length} bytes, at most {limit}", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BatchInvalid(f"body: more than {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)
