"""The pairing PAKE: right code pairs, anything else fails both confirmations and opens nothing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.ledger import pake
from appliance.ledger.errors import PakeError

NODE_ID = "node-1"
FP = "SHA256:" + ":".join(["ab12"] * 16)
OTHER_FP = "SHA256:" + ":".join(["cd34"] * 16)
codes = st.integers(0, 10**6 - 1).map(lambda n: f"{n:06d}")


def run(
    node_code: str,
    console_code: str,
    seen_fp: str = FP,
    payload: bytes = b"token",
) -> tuple[pake.NodeRun, pake.ConsoleFinish, bytes]:
    """One whole run; returns the node's state, the console's step and what the console opened."""
    node = pake.NodeRun(node_code, NODE_ID)
    step = pake.console_finish(console_code, NODE_ID, node.message, seen_fp)
    keys = node.finish(step.message, step.confirm, FP)
    confirm, sealed = pake.node_reply(keys, FP, payload)
    return node, step, pake.console_open(step.keys, seen_fp, confirm, sealed)


@settings(max_examples=8, deadline=None)  # ~60 ms a run in pure Python
@given(codes)
def test_the_right_code_pairs_and_opens_the_payload(code: str) -> None:
    _, step, opened = run(code, code, payload=b"SBT1.token")
    assert opened == b"SBT1.token"
    assert len(step.message) == pake.MESSAGE_LEN and step.message[:1] == b"A"


@settings(max_examples=6, deadline=None)
@given(codes, codes)
def test_a_wrong_code_fails_both_confirmations(node_code: str, console_code: str) -> None:
    if node_code == console_code:
        console_code = f"{(int(console_code) + 1) % 10**6:06d}"
    node = pake.NodeRun(node_code, NODE_ID)
    step = pake.console_finish(console_code, NODE_ID, node.message, FP)
    with pytest.raises(PakeError, match="console's confirmation"):
        node.finish(step.message, step.confirm, FP)
    # and had the node answered anyway, the console would not accept its confirmation either
    honest = pake.NodeRun(node_code, NODE_ID)
    step = pake.console_finish(console_code, NODE_ID, honest.message, FP)
    forced = pake.derive(b"\0" * 32, NODE_ID, step.message, honest.message)
    confirm, sealed = pake.node_reply(forced, FP, b"token")
    with pytest.raises(PakeError, match="node's confirmation"):
        pake.console_open(step.keys, FP, confirm, sealed)


def test_a_man_in_the_middle_with_its_own_certificate_fails() -> None:
    """The console saw OTHER_FP in its TLS handshake; the node's own is FP."""
    node = pake.NodeRun("123456", NODE_ID)
    step = pake.console_finish("123456", NODE_ID, node.message, OTHER_FP)
    with pytest.raises(PakeError):
        node.finish(step.message, step.confirm, FP)
    # the other way: the node's confirmation names FP, the console expects OTHER_FP
    node = pake.NodeRun("123456", NODE_ID)
    step = pake.console_finish("123456", NODE_ID, node.message, FP)
    keys = node.finish(step.message, step.confirm, FP)
    confirm, sealed = pake.node_reply(keys, FP, b"token")
    with pytest.raises(PakeError):
        pake.console_open(step.keys, OTHER_FP, confirm, sealed)


def test_a_different_node_id_fails() -> None:
    node = pake.NodeRun("123456", NODE_ID)
    step = pake.console_finish("123456", "node-2", node.message, FP)
    with pytest.raises(PakeError):
        node.finish(step.message, step.confirm, FP)


@pytest.mark.parametrize("where", ["message_b", "message_a", "confirm_a", "confirm_b", "sealed"])
def test_a_tampered_message_fails(where: str) -> None:
    def flip(data: bytes, at: int = -1) -> bytes:
        return data[:at] + bytes([data[at] ^ 1]) + (data[at + 1 :] if at != -1 else b"")

    def whole_run() -> None:
        node = pake.NodeRun("424242", NODE_ID)
        message_b = flip(node.message, 5) if where == "message_b" else node.message
        step = pake.console_finish("424242", NODE_ID, message_b, FP)
        message_a = flip(step.message, 5) if where == "message_a" else step.message
        confirm_a = flip(step.confirm) if where == "confirm_a" else step.confirm
        keys = node.finish(message_a, confirm_a, FP)
        confirm_b, sealed = pake.node_reply(keys, FP, b"token")
        confirm_b = flip(confirm_b) if where == "confirm_b" else confirm_b
        sealed = flip(sealed) if where == "sealed" else sealed
        pake.console_open(step.keys, FP, confirm_b, sealed)

    with pytest.raises(PakeError):
        whole_run()


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"A",
        b"B" + b"\0" * 32,
        b"A" + b"\xff" * 32,
        b"A" + b"\0" * 40,
        b"A" + b"\1" + b"\0" * 31,
    ],
)
def test_garbage_messages_are_a_pake_error(message: bytes) -> None:
    with pytest.raises(PakeError):
        pake.NodeRun("123456", NODE_ID).finish(message, b"\0" * 32, FP)


def test_one_finish_per_run() -> None:
    node = pake.NodeRun("123456", NODE_ID)
    step = pake.console_finish("123456", NODE_ID, node.message, FP)
    node.finish(step.message, step.confirm, FP)
    with pytest.raises(PakeError, match="over"):
        node.finish(step.message, step.confirm, FP)


@pytest.mark.parametrize("code", ["12345", "1234567", "12a456", ""])
def test_codes_are_six_digits(code: str) -> None:
    with pytest.raises(PakeError, match="6 digits"):
        pake.NodeRun(code, NODE_ID)


def test_a_transcript_does_not_contain_the_code() -> None:
    """Everything on the wire, in every encoding a sniffer might grep for, lacks the code."""
    code = "271828"
    node, step, _ = run(code, code)
    confirm, sealed = pake.node_reply(step.keys, FP, b"SBT1.x")
    wire = node.message + step.message + step.confirm + confirm + sealed
    for needle in (code.encode(), code.encode("utf-16-le"), bytes.fromhex(f"{int(code):06x}")):
        assert needle not in wire
    assert code not in wire.hex() and code not in wire.decode("latin-1")


def test_a_passive_observer_cannot_test_codes_offline() -> None:
    """Nothing on the wire is a function of the code alone: two runs with one code share nothing."""
    first = run("555555", "555555")
    second = run("555555", "555555")
    assert first[0].message != second[0].message and first[1].message != second[1].message
    assert first[1].keys.seal != second[1].keys.seal
