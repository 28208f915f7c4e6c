"""appliance.passes: issuing, verifying and refusing passes, with the reason a vendor is shown."""

from __future__ import annotations

import zlib

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from make_vectors import NOW, YEAR, card, key

from appliance.passes import base45
from appliance.passes.cose import sign1
from appliance.passes.errors import PassRefused, Reason
from appliance.passes.model import Entitlement, Kind, Period
from appliance.passes.trust import (
    PREFIX,
    TrustStore,
    delegate,
    encode_pass,
    issue_pass,
    revocation_list,
)

ANA, BO, BOX = key("creator ana"), key("creator bo"), key("box 1")


def store() -> TrustStore:
    return TrustStore({"creator:ana": ANA.public_key(), "creator:bo": BO.public_key()})


def refused(trust: TrustStore, text: str, now: int = NOW) -> Reason:
    with pytest.raises(PassRefused) as caught:
        trust.verify(text, now)
    return caught.value.reason


def test_every_entitlement_survives_the_round_trip() -> None:
    grants = (
        Entitlement(Kind.PERCENT_OFF, 15, ("pastel",)),
        Entitlement(Kind.AMOUNT_OFF, 250, (), currency="BRL"),
        Entitlement(Kind.EARLY_ACCESS, 45, ("drop-1",)),
        Entitlement(Kind.ALLOWANCE, 2, ("caldo", "suco"), period=Period.EVENT),
    )
    issued = card(1, "creator:ana", grants=grants)
    verified = store().verify(issue_pass(ANA, issued), NOW)
    assert verified.entitlements == grants
    assert (verified.holder, verified.issuer, verified.pass_id) == (
        issued.holder,
        issued.issuer,
        issued.pass_id,
    )


def test_validity_window_edges() -> None:
    text = issue_pass(ANA, card(1, "creator:ana"))
    assert store().verify(text, YEAR[0]).valid_from == YEAR[0]
    assert refused(store(), text, YEAR[0] - 1) is Reason.NOT_YET_VALID
    assert refused(store(), text, YEAR[1]) is Reason.EXPIRED


def test_a_delegation_only_counts_once_added_and_only_inside_its_window() -> None:
    trust = store()
    text = issue_pass(BOX, card(2, "creator:ana"))
    assert refused(trust, text) is Reason.UNDELEGATED
    trust.add_delegation(
        delegate(ANA, "creator:ana", BOX.public_key(), "box 1", (YEAR[0] + 10, YEAR[1]))
    )
    assert refused(trust, text) is Reason.UNDELEGATED  # issued before the delegation began
    trust.add_delegation(delegate(ANA, "creator:ana", BOX.public_key(), "box 1", YEAR))
    assert trust.verify(text, NOW).signed_by


def test_trust_documents_signed_by_the_wrong_creator_are_refused() -> None:
    trust = store()
    with pytest.raises(PassRefused) as caught:  # bo's key delegating for ana
        trust.add_delegation(delegate(BO, "creator:ana", BOX.public_key(), "box 1", YEAR))
    assert caught.value.reason is Reason.WRONG_ISSUER
    with pytest.raises(PassRefused) as caught:  # a box cannot delegate
        trust.add_delegation(delegate(BOX, "creator:ana", key("box 2").public_key(), "box 2", YEAR))
    assert caught.value.reason is Reason.UNDELEGATED
    with pytest.raises(PassRefused) as caught:
        trust.add_revocations(revocation_list(BO, "creator:ana", [], NOW))
    assert caught.value.reason is Reason.WRONG_ISSUER


def test_a_zip_bomb_and_foreign_text_are_malformed_not_crashes() -> None:
    bomb = encode_pass(b"\0" * 1_000_000)
    assert refused(store(), bomb) is Reason.MALFORMED
    assert refused(store(), "HC1:" + base45.encode(zlib.compress(b"x"))) is Reason.MALFORMED
    assert refused(store(), PREFIX + "::") is Reason.MALFORMED
    not_a_claims_map = encode_pass(sign1(cbor2.dumps([1, 2]), ANA))
    assert refused(store(), not_a_claims_map) is Reason.MALFORMED


def test_a_bad_entitlement_names_its_field() -> None:
    claims = card(1, "creator:ana").claims()
    claims[-65537][2] = [{1: 1, 2: 101, 3: []}]  # 101 % off
    with pytest.raises(PassRefused, match="percent_off value must be an integer from 1 to 100"):
        store().verify(encode_pass(sign1(cbor2.dumps(claims), ANA)), NOW)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_are_a_pass_or_a_reason(blob: bytes) -> None:
    for text in (PREFIX + base45.encode(blob), PREFIX + base45.encode(zlib.compress(blob))):
        with pytest.raises(PassRefused):
            store().verify(text, NOW)
