"""Passes at the node, through both planes in process (issue 19): a pass's discount is a line of
the order and of the sale's signed items; an allowance is counted on the node per pass and period
(the same pass text again redeems nothing); early access admits a drop claim before the public
start; expired, revoked and tampered passes are refused with the reason; [passes] errors name
the key."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.types import Receive, Scope, Send

from appliance.api.app import Planes
from appliance.config import parse_config, sample_config
from appliance.errors import ConfigError
from appliance.ledger.receipt import parse_receipt
from appliance.ledger.rules import items_total
from appliance.passes.cose import raw_public
from appliance.passes.model import Entitlement, Kind, Pass, Period
from appliance.passes.settings import parse_passes
from appliance.passes.trust import issue_pass, revocation_id, revocation_list
from appliance.services.box import init_state
from appliance.services.passes import load_trust
from appliance.store import ledger as ledger_sql

ANA = Ed25519PrivateKey.generate()
HOUR = 3600


def card(*grants: Entitlement, until: int | None = None) -> Pass:
    now = int(time.time())
    return Pass(
        pass_id=secrets.token_hex(16), issuer="creator:ana", holder="Fan 1",
        valid_from=now - HOUR, valid_until=until or now + 24 * HOUR, issued_at=now - HOUR,
        entitlements=grants, signed_by="",
    )  # fmt: skip


REVOKED = card(Entitlement(Kind.PERCENT_OFF, 50))


@asynccontextmanager
async def node_with_passes(
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], Planes]]:
    state = tmp_path / "state"
    init_state(state, "BRL", datetime.now(UTC))
    (state / "passes").mkdir()
    listed = revocation_list(
        ANA, "creator:ana", [revocation_id("creator:ana", REVOKED.pass_id)], int(time.time())
    )
    (state / "passes" / "ana.revoked").write_bytes(listed)
    config = parse_config(
        sample_config("BRL")
        + f'\n[passes]\ncreators = {{ "creator:ana" = "{raw_public(ANA.public_key()).hex()}" }}\n'
        + 'revocations = ["passes/ana.revoked"]\nevent = "fair"\n'
    )
    planes = Planes(config, state, port=0, operator_port=0, advertise=False)
    attendee, operator = planes.attendee, planes.operator

    async def both(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        await (operator if path.startswith("/api/") else attendee)(scope, receive, send)

    async with (
        attendee.router.lifespan_context(attendee),
        operator.router.lifespan_context(operator),
    ):
        transport = httpx.ASGITransport(app=both)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://node", headers={"Accept-Language": "en"}
        ) as client:
            assert planes.node is not None
            token = planes.node.pairing.issue("t", 0, datetime.now(UTC).timestamp())
            yield client, {"Authorization": f"Bearer {token}"}, planes


async def order_with(client: httpx.AsyncClient, form: dict[str, str]) -> httpx.Response:
    return await client.post("/order", data={"tender": "cash", **form})


async def paid_items(
    client: httpx.AsyncClient, auth: dict[str, str], planes: Planes, placed: httpx.Response
) -> tuple[int, list[dict[str, object]]]:
    """Confirm the order a POST /order made; return its receipt's total and signed items."""
    assert placed.status_code == 303, placed.text
    order_id = placed.headers["location"].split("/")[2]
    done = await client.post(f"/api/orders/{order_id}/confirm", json={}, headers=auth)
    assert done.status_code == 200 and done.json()["accepted"], done.text
    assert planes.node is not None
    seq = int(done.json()["receipt"]["seq"])
    stored = await planes.node.box.writer.read(lambda conn: ledger_sql.get_receipt(conn, seq))
    assert stored is not None
    items = json.loads(stored.items)
    total = parse_receipt(stored.line).total
    assert items_total(items) == total  # rule 13: the discount line keeps the sum exact
    return total, items


async def drop_in_ten_minutes(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    """A drop of 5 pastéis whose public start is 10 minutes away; its claim path."""
    starts = datetime.now(UTC) + timedelta(minutes=10)
    made = await client.post(
        "/api/drops",
        json={"sku": "pastel", "quantity": 5, "starts_at": starts.isoformat()},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    return f"/d/{made.json()['id']}/claim"


def test_a_pass_discount_is_a_line_of_the_order_and_of_the_signed_receipt(tmp_path: Path) -> None:
    tenth = card(Entitlement(Kind.PERCENT_OFF, 10, ("pastel",)))
    text = issue_pass(ANA, tenth)

    async def scenario() -> None:
        async with node_with_passes(tmp_path) as (client, auth, planes):
            cart = await client.post("/cart", data={"pastel": "2", "coffee": "1", "pass": text})
            assert cart.status_code == 200
            assert "Pass of Fan 1" in cart.text and "\u2212R$1.80" in cart.text
            assert "Total: R$22.20" in cart.text  # 2 x 9.00 + 6.00 - 1.80
            placed = await order_with(client, {"pastel": "2", "coffee": "1", "pass": text})
            total, items = await paid_items(client, auth, planes, placed)
            assert total == 2220
            order_id = placed.headers["location"].split("/")[2]
            seen = (await client.get(f"/api/orders/{order_id}", headers=auth)).json()
            assert sum(line["total"] for line in seen["lines"]) == seen["total"] == 2220
            shown = (await client.get(placed.headers["location"].removesuffix("/pay"))).text
            assert 'class="row discount"' in shown and "\u2212R$1.80" in shown
            discount = [i for i in items if str(i["sku"]).startswith("pass:")]
            assert discount == [
                {"sku": f"pass:{tenth.pass_id}:0", "name": "Pass: 10% off", "qty": 1,
                 "unit": -180, "pass": tenth.pass_id}
            ]  # fmt: skip

    asyncio.run(scenario())


def test_an_allowance_is_redeemed_once_whatever_the_phone_sends(tmp_path: Path) -> None:
    once = Entitlement(Kind.ALLOWANCE, 1, ("coffee",), period=Period.EVENT)
    text = issue_pass(ANA, card(once))

    async def scenario() -> None:
        async with node_with_passes(tmp_path) as (client, auth, planes):
            first = await order_with(client, {"coffee": "2", "pass": text})
            total, items = await paid_items(client, auth, planes, first)
            assert total == 600  # one of the two coffees free
            redeemed = [i for i in items if str(i["sku"]).startswith("pass:")]
            assert [(i["unit"], i["period"], i["redeemed"]) for i in redeemed] == [
                (-600, "fair/0", 1)
            ]  # the signed sale records the redemption
            cart = await client.post("/cart", data={"coffee": "1", "pass": text})
            assert 'class="row discount"' not in cart.text  # the same text, a second time
            again = await order_with(client, {"coffee": "1", "pass": text})  # a screenshot
            total, items = await paid_items(client, auth, planes, again)
            assert total == 600 and not [i for i in items if str(i["sku"]).startswith("pass:")]

    asyncio.run(scenario())


def test_one_pass_shown_on_two_phones_at_once_redeems_once(tmp_path: Path) -> None:
    text = issue_pass(ANA, card(Entitlement(Kind.ALLOWANCE, 1, ("coffee",), period=Period.DAY)))

    def free(order: dict[str, object]) -> bool:
        lines = order["lines"]
        assert isinstance(lines, list)
        return any(str(line["sku"]).startswith("pass:") for line in lines)

    async def scenario() -> None:
        async with node_with_passes(tmp_path) as (client, auth, _planes):
            placed = await asyncio.gather(
                *(order_with(client, {"coffee": "1", "pass": text}) for _ in range(4))
            )
            ids = [p.headers["location"].split("/")[2] for p in placed]
            orders = [(await client.get(f"/api/orders/{i}", headers=auth)).json() for i in ids]
            assert sorted(o["total"] for o in orders) == [0, 600, 600, 600]
            winner = next(o for o in orders if free(o))
            cancelled = await client.post(f"/api/orders/{winner['id']}/cancel", headers=auth)
            assert cancelled.status_code == 200, cancelled.text
            again = await order_with(client, {"coffee": "1", "pass": text})  # given back
            order_id = again.headers["location"].split("/")[2]
            assert (await client.get(f"/api/orders/{order_id}", headers=auth)).json()["total"] == 0

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("make", "code", "reason"),
    [
        (lambda: issue_pass(ANA, card(Entitlement(Kind.PERCENT_OFF, 10), until=int(time.time()) - 1)),
         "pass_expired", "expired"),
        (lambda: issue_pass(ANA, REVOKED), "pass_revoked", "revoked"),
        (lambda: issue_pass(Ed25519PrivateKey.generate(), card(Entitlement(Kind.PERCENT_OFF, 10))),
         "pass_invalid", "undelegated"),
        (lambda: tampered(issue_pass(ANA, card(Entitlement(Kind.PERCENT_OFF, 10)))),
         "pass_invalid", "bad_signature"),
    ],
)  # fmt: skip
def test_a_refused_pass_stores_no_order_and_says_why(
    tmp_path: Path, make: object, code: str, reason: str
) -> None:
    assert callable(make)
    text = str(make())

    async def scenario() -> None:
        async with node_with_passes(tmp_path) as (client, auth, _planes):
            before = (await client.get("/api/orders", headers=auth)).json()
            refused = await order_with(client, {"pastel": "1", "pass": text})
            assert refused.status_code == 409
            assert f'data-error="{code}"' in refused.text
            assert f'data-pass-refused="{reason}"' in refused.text
            assert (
                '<input type="hidden" name="pass"' not in refused.text
            )  # the cart goes on without it
            assert (await client.get("/api/orders", headers=auth)).json() == before

    asyncio.run(scenario())


def tampered(text: str) -> str:
    """The pass with the last byte of its signature flipped, re-encoded (same length)."""
    import zlib

    from appliance.passes import base45
    from appliance.passes.trust import PREFIX, encode_pass

    document = bytearray(zlib.decompress(base45.decode(text[len(PREFIX) :])))
    document[-1] ^= 0x01
    return encode_pass(bytes(document))


def test_early_access_admits_a_claim_before_the_public_start(tmp_path: Path) -> None:
    early = issue_pass(ANA, card(Entitlement(Kind.EARLY_ACCESS, 30)))
    too_late = issue_pass(ANA, card(Entitlement(Kind.EARLY_ACCESS, 5)))
    other_drop = issue_pass(ANA, card(Entitlement(Kind.EARLY_ACCESS, 30, ("999",))))

    async def scenario() -> None:
        async with node_with_passes(tmp_path) as (client, auth, _planes):
            claim = await drop_in_ten_minutes(client, auth)
            for form in ({}, {"pass": too_late}, {"pass": other_drop}):
                refused = await client.post(claim, data={"qty": "1", "tender": "cash", **form})
                assert refused.status_code == 409 and 'data-error="not_open"' in refused.text
            admitted = await client.post(claim, data={"qty": "1", "tender": "cash", "pass": early})
            assert admitted.status_code == 303, admitted.text
            assert admitted.headers["location"].endswith("/pay")
            bad = await client.post(
                claim, data={"qty": "1", "tender": "cash", "pass": tampered(early)}
            )
            assert bad.status_code == 409 and 'data-pass-refused="bad_signature"' in bad.text

    asyncio.run(scenario())


def test_passes_config_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[passes]\ncolour = "red"\n')
    assert str(caught.value).startswith("stallbox.toml: passes.colour: ")
    with pytest.raises(ConfigError) as caught:
        parse_passes({"creators": {"creator:ana": "00ff"}}, "box.toml")
    assert caught.value.field == "passes.creators.creator:ana"
    with pytest.raises(ConfigError) as caught:
        parse_passes({"creators": {"c": "00" * 32}, "revocations": ["../x"]}, "box.toml")
    assert caught.value.field == "passes.revocations[0]"
    with pytest.raises(ConfigError) as caught:
        parse_passes({"creators": {"c": "00" * 32}, "split": "half"}, "box.toml")
    assert caught.value.field == "passes.split"
    key = raw_public(ANA.public_key()).hex()
    settings = parse_passes({"creators": {"creator:ana": key}, "delegation": "d.cbor"}, "b.toml")
    assert settings is not None
    with pytest.raises(ConfigError) as caught:
        load_trust(settings, tmp_path, "b.toml")
    assert caught.value.field == "passes.delegation" and "d.cbor" in str(caught.value)
    (tmp_path / "d.cbor").write_bytes(revocation_list(ANA, "creator:ana", [], 0))
    with pytest.raises(ConfigError) as caught:  # a revocation list is no delegation
        load_trust(settings, tmp_path, "b.toml")
    assert caught.value.field == "passes.delegation" and "malformed" in str(caught.value)


def test_one_early_access_pass_is_one_early_claimant_whichever_phones_show_it(
    tmp_path: Path,
) -> None:
    # Hostile-attendee review: a pass is text, shared in a group chat as easily as a screenshot.
    # Before the public start each address that showed one early-access pass got its own
    # allowance, so one pass let a scalper with many addresses (or a whole chat) take the drop
    # before anyone else could. An early claim now counts against the pass.
    early = issue_pass(ANA, card(Entitlement(Kind.EARLY_ACCESS, 30)))

    async def scenario() -> None:
        async with node_with_passes(tmp_path) as (client, auth, planes):
            claim = await drop_in_ten_minutes(client, auth)
            answers = []
            for n in range(1, 5):
                phone = httpx.ASGITransport(app=planes.attendee, client=(f"10.0.0.{n}", 5000))
                async with httpx.AsyncClient(transport=phone, base_url="http://node") as other:
                    form = {"qty": "1", "tender": "cash", "pass": early}
                    answers.append(await other.post(claim, data=form))
            assert answers[0].status_code == 303, answers[0].text
            for refused in answers[1:]:
                assert refused.status_code == 409 and 'data-error="per_attendee"' in refused.text

    asyncio.run(scenario())
