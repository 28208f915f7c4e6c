"""A stranger on the Wi-Fi: run PAKE pairing with wrong codes against a node, as fast as it allows.

Run as its own process by tests/e2e/test_pairing_attack.py:
    python pair_attacker.py OPERATOR_URL SOURCE_ADDRESS FINGERPRINT SECONDS
Every connection leaves from SOURCE_ADDRESS (e.g. 127.0.0.2), over TLS to the operator plane
(the only place pairing answers); the attacker checks no certificate, it has nothing to protect.
It binds the node's real FINGERPRINT (public: mDNS lists it), so only the code is wrong. A refusal (429, no code waiting)
is retried after 0.2 s whatever Retry-After says, so the script keeps knocking; a wrong guess is
followed at once by the next. Prints one JSON line of counts.
"""

from __future__ import annotations

import json
import secrets
import ssl
import sys
import time

import httpx

from tui.errors import NodeUnreachable, Refused, Unauthorized
from tui.pairing import pair_blocking

RETRY_CAP_S = 0.2


def main(argv: list[str]) -> int:
    """Attack until the time is up; print the counts."""
    url, source, fingerprint, seconds = argv[0], argv[1], argv[2], float(argv[3])
    counts = {"guesses": 0, "wrong": 0, "limited": 0, "refused": 0, "paired": 0, "unreachable": 0}
    anything = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anything.check_hostname, anything.verify_mode = False, ssl.CERT_NONE
    transport = httpx.HTTPTransport(local_address=source, verify=anything)
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, transport=transport, timeout=10) as http:
        while time.monotonic() < deadline:
            try:
                pair_blocking(http, f"{secrets.randbelow(10**6):06d}", "guess", fingerprint)
            except Unauthorized as exc:
                if "wrong pairing code" in exc.error:
                    counts["guesses"] += 1
                    counts["wrong"] += 1
                else:
                    counts["refused"] += 1  # no code waiting, expired, or dead
                    time.sleep(RETRY_CAP_S)
            except Refused as exc:
                counts["limited" if exc.status == 429 else "refused"] += 1
                time.sleep(RETRY_CAP_S)
            except NodeUnreachable:
                counts["unreachable"] += 1
                time.sleep(RETRY_CAP_S)
            else:
                counts["guesses"] += 1
                counts["paired"] += 1
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
