"""The Sync screen's line on pass redemptions between boxes (tui/screens/sync.passes_text)."""

from __future__ import annotations

from appliance.api.pass_peers_schemas import OverOut, PassPeersOut, PeerOut
from tui.screens.sync import passes_text


def test_the_line_says_who_is_in_sight_and_what_was_over_redeemed() -> None:
    peer = PeerOut("http://b", "box-b", True, 0.2, 3, "")
    lost = PeerOut("http://c", "box-c", False, None, 1, "All connection attempts failed")
    over = OverOut("aa", "fair/0", 3, 1, "2026-12-04T21:00:00+00:00", False)
    view = PassPeersOut(True, 3, False, 3.0, [peer, lost], [over])
    text = passes_text(view)
    assert (
        "2 of 3 OUT OF SIGHT" in text
        and "1 over-redemption(s) found, 1 not yet at the cloud" in text
    )
    assert passes_text(PassPeersOut(False, 1, True, 3.0, [], [])) == ""
    assert passes_text(None) == ""
