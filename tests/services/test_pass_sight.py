"""The sight rules of pass sharing (services/pass_sight.py) on times the test picks: which boxes
count as in sight, what a failed exchange does to a peer, and what every other box holds.

tests/api/test_pass_peers*.py drive the same through real nodes; these hold each rule's edge.
"""

from __future__ import annotations

from appliance.services import pass_sight
from appliance.services.pass_sight import Peer

SIGHT_S = 10.0


def test_a_new_box_at_a_known_address_is_sent_everything() -> None:
    peer = Peer("http://b", ["http://b"], box="kb", heard=1.0, sent=7, problem="slow")
    pass_sight.heard(peer, "kb", 5.0)
    assert (peer.box, peer.heard, peer.sent, peer.problem) == ("kb", 5.0, 7, "")
    pass_sight.heard(peer, "kc", 6.0)  # another box answers at that address now
    assert (peer.box, peer.heard, peer.sent) == ("kc", 6.0, 0)


def test_a_failed_push_puts_a_peer_out_of_sight_a_failed_pull_does_not() -> None:
    peer = Peer("http://b1", ["http://b1", "http://b2"], box="kb", heard=5.0)
    pass_sight.lost(peer, "timeout")  # a pull: its last answer ages out by itself
    assert (peer.heard, peer.problem, peer.url) == (5.0, "timeout", "http://b2")
    pass_sight.lost(peer, "refused", at_once=True)  # a push
    assert (peer.heard, peer.problem, peer.url) == (0.0, "refused", "http://b1")
    alone = Peer("http://c", ["http://c"])
    pass_sight.lost(alone, "down")
    assert alone.url == "http://c"


def test_every_other_box_in_sight_counts_boxes_not_addresses() -> None:
    b1 = Peer("http://b1", box="kb", heard=100.0)
    b2 = Peer("http://b2", box="kb", heard=100.0)  # the same box at a second address
    c = Peer("http://c", box="kc", heard=90.0)
    unknown = Peer("http://d", heard=100.0)  # answered, but no signed message of it verified
    assert not pass_sight.all_in_sight([b1, b2, unknown], 3, SIGHT_S, 100.0)
    assert pass_sight.all_in_sight([b1, b2, c], 3, SIGHT_S, 100.0)  # c heard exactly sight_s ago
    assert not pass_sight.all_in_sight([b1, b2, c], 3, SIGHT_S, 100.1)
    assert pass_sight.seen([b1, c, unknown], SIGHT_S, 100.1) == [b1, unknown]


def test_our_redemptions_count_in_sight_up_to_what_every_other_box_acknowledged() -> None:
    b = Peer("http://b", box="kb", sent=9)
    b_again = Peer("http://b2", box="kb", sent=4)  # one box at two addresses counts once
    c = Peer("http://c", box="kc", sent=5)
    assert pass_sight.acked_by_all([b, b_again], 3) == 0  # c holds nothing of ours yet
    assert pass_sight.acked_by_all([b, b_again, c], 3) == 5
    assert pass_sight.acked_by_all([b, c], 2) == 9  # one other box: what it holds
    assert pass_sight.acked_by_all([b, c], 1) == 0  # no other box to wait for
