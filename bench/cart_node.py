"""The node's attendee plane for bench/flags.py: the real app, with the POST limiter lifted.

wrk sends every request from 127.0.0.1, and the node allows each address 2 POSTs a second
(bursts of 20), so the bench's cart POSTs would measure the 429 page. Here the limiter lets
everything through; the rest is the node as `stallbox node` runs it (uvloop, httptools, no
access log). The state dir holds the config (`stallbox.toml`) and, for a run with an
experiment, the flag bundle (`flags.json`) the node loads at start.

Usage: python bench/cart_node.py STATE_DIR PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:1] = [str(REPO)]

import uvicorn  # noqa: E402

from appliance.api import node as node_module  # noqa: E402
from appliance.api.app import Planes  # noqa: E402
from appliance.api.limits import MAX_CLIENTS, RateLimiter  # noqa: E402
from appliance.config import load_config  # noqa: E402


class Unlimited(RateLimiter):
    """Lets every POST through (one load generator, one address)."""

    def __init__(self, rate: float, burst: int, max_clients: int = MAX_CLIENTS) -> None:
        super().__init__(rate=1e12, burst=10**12, max_clients=max_clients)


def main(argv: list[str] | None = None) -> int:
    """Serve the attendee plane of the node on STATE_DIR at 127.0.0.1:PORT until killed."""
    state, port = (argv if argv is not None else sys.argv[1:])[:2]
    node_module.RateLimiter = Unlimited  # type: ignore[attr-defined]  # the node's, as built
    config = load_config(Path(state) / "stallbox.toml")
    planes = Planes(config, Path(state), port=int(port), operator_port=0, advertise=False)
    uvicorn.run(
        planes.attendee, host="127.0.0.1", port=int(port), loop="uvloop", http="httptools",
        log_level="warning", access_log=False, lifespan="on",
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
