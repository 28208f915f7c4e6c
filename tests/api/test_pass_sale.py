"""Selling a pass at the stall, through both planes in process (issue 19, items 2-3).

A pass product is refused, naming it, when the box holds no valid delegation for its creator
(none, another creator's, another box's); once paid, the pass is issued in the confirmation's
own transaction — a confirmation that fails after issuing keeps neither, a restart finds the
same pass, a second confirmation issues nothing — and verifies with the existing verifier; the
issuance is an item of the signed sale (a void repeats it, the chain verifies); the receipt
page keeps it on the phone and shows its QR (alphanumeric mode), which decodes to the pass.
"""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import qrcode
import qrcode.constants
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from PIL import Image
from qrcode.util import MODE_8BIT_BYTE, MODE_ALPHA_NUM, QRData
from starlette.types import Receive, Scope, Send

from appliance.api.app import Planes
from appliance.config import parse_config, sample_config
from appliance.domain.orders import Order
from appliance.errors import ConfigError
from appliance.ledger.chain import verify_chain
from appliance.ledger.identity import load_key
from appliance.passes.cose import kid_of, raw_public
from appliance.passes.model import Kind
from appliance.passes.trust import TrustStore, delegate
from appliance.services.box import init_state
from appliance.services.pass_sales import digest
from appliance.services.sale_hooks import SaleHooks
from appliance.store import ledger as ledger_sql

ANA = Ed25519PrivateKey.generate()
BO = Ed25519PrivateKey.generate()
DAY = 86_400
PRODUCT = """
[[catalog]]
sku = "fanpass"
name = "Fan pass"
price = "30.00"

[[passes.products]]
sku = "fanpass"
creator = "creator:ana"
days = 30
holder = "Superfan"
entitlements = [
  { kind = "percent_off", value = 10, items = ["pastel"] },
  { kind = "allowance", value = 1, items = ["coffee"], period = "day" },
  { kind = "early_access", value = 30 },
]
"""


def config_text(delegation: bool) -> str:
    ana, bo = raw_public(ANA.public_key()).hex(), raw_public(BO.public_key()).hex()
    passes = f'\n[passes]\ncreators = {{ "creator:ana" = "{ana}", "creator:bo" = "{bo}" }}\n' + (
        'delegation = "passes/box.delegation"\n' if delegation else ""
    )
    catalog, products = PRODUCT.split("[[passes.products]]")
    return sample_config("BRL") + catalog + passes + "\n[[passes.products]]" + products


def grant(
    state: Path, creator: Ed25519PrivateKey, issuer: str, box: Ed25519PublicKey, ends: int = 90
) -> None:
    """Write the creator's delegation to `box`, from a minute ago until `ends` days from now."""
    now = int(time.time())
    (state / "passes").mkdir(exist_ok=True)
    (state / "passes" / "box.delegation").write_bytes(
        delegate(creator, issuer, box, "box 1", (now - 60 - 2 * DAY, now + ends * DAY))
    )


@asynccontextmanager
async def node(
    state: Path, delegation: bool = True
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], Planes]]:
    planes = Planes(parse_config(config_text(delegation)), state, port=0, operator_port=0,
                    advertise=False)  # fmt: skip
    attendee, operator = planes.attendee, planes.operator

    async def both(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        await (operator if path.startswith("/api/") else attendee)(scope, receive, send)

    async with (
        attendee.router.lifespan_context(attendee),
        operator.router.lifespan_context(operator),httpx.AsyncClient(
        transport=httpx.ASGITransport(app=both), base_url="http://node",
        headers={"Accept-Language": "en"},
    ) as client
    ):  # fmt: skip
        assert planes.node is not None
        token = planes.node.pairing.issue("t", 0, datetime.now(UTC).timestamp())
        yield client, {"Authorization": f"Bearer {token}"}, planes


def new_state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    init_state(state, "BRL", datetime.now(UTC))
    return state


async def buy(client: httpx.AsyncClient, note: str = "") -> str:
    """Order one fan pass in cash on the attendee plane; its order id."""
    placed = await client.post("/order", data={"fanpass": "1", "tender": "cash", "note": note})
    assert placed.status_code == 303 and "/pay" in placed.headers["location"], placed.text
    return placed.headers["location"].split("/")[2]


async def issued_rows(planes: Planes) -> list[tuple[str, str]]:
    assert planes.node is not None
    return await planes.node.box.writer.read(
        lambda conn: conn.execute("SELECT order_id, text FROM pass_sales ORDER BY rowid").fetchall()
    )


def version_of(text: str, mode: int) -> int:
    """The QR version (level M) of `text` as one segment of `mode` (ISO/IEC 18004 capacities)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(QRData(text, mode))
    return int(code.best_fit())


class AfterIssuing:
    """The node's sale hooks, failing after the pass is issued (as a full disk would)."""

    def __init__(self, real: SaleHooks) -> None:
        self.real = real

    def check_line(self, sku: str, now: datetime) -> None:
        self.real.check_line(sku, now)

    def on_paid(
        self, conn: sqlite3.Connection, order: Order, now: datetime
    ) -> list[dict[str, str | int]]:
        assert self.real.on_paid(conn, order, now)
        raise OSError("the disk failed in the middle of the sale")


def test_a_plain_sale_on_a_box_that_sells_passes_reads_no_pass(tmp_path: Path) -> None:
    """Every confirm runs the pass hook; a sale without a pass product must cost it nothing."""
    state = new_state(tmp_path)
    grant(state, ANA, "creator:ana", load_key(state).public)

    async def scenario() -> list[str]:
        async with node(state) as (client, auth, planes):
            placed = await client.post("/order", data={"coffee": "1", "tender": "cash"})
            assert placed.status_code == 303, placed.text
            order_id = placed.headers["location"].split("/")[2]
            assert planes.node is not None
            seen: list[str] = []
            planes.node.box.writer._conn.set_trace_callback(seen.append)
            try:
                done = await client.post(f"/api/orders/{order_id}/confirm", json={}, headers=auth)
            finally:
                planes.node.box.writer._conn.set_trace_callback(None)
            assert done.status_code == 200 and done.json()["accepted"], done.text
            return seen

    statements = asyncio.run(scenario())
    assert statements and not [s for s in statements if "pass_sales" in s], statements


@pytest.mark.parametrize("case", ["none", "other_creator", "other_box", "expired"])
def test_a_pass_product_without_a_valid_delegation_is_refused_naming_it(
    tmp_path: Path, case: str
) -> None:
    state = new_state(tmp_path)
    if case == "other_creator":  # bo's delegation to this box: ana's pass cannot be issued
        grant(state, BO, "creator:bo", load_key(state).public)
    elif case == "other_box":
        grant(state, ANA, "creator:ana", Ed25519PrivateKey.generate().public_key())
    elif case == "expired":  # ended yesterday
        grant(state, ANA, "creator:ana", load_key(state).public, ends=-1)

    async def scenario() -> None:
        async with node(state, delegation=case != "none") as (client, auth, planes):
            made = await client.post(
                "/api/orders", json={"lines": [{"sku": "fanpass", "qty": 1}]}, headers=auth
            )
            assert made.status_code == 409, made.text
            assert made.json()["field"] == "sku" and made.json()["error"].startswith("fanpass: ")
            opened = (await client.post("/api/orders", json={}, headers=auth)).json()
            added = await client.post(
                f"/api/orders/{opened['id']}/lines", json={"sku": "fanpass"}, headers=auth
            )
            assert added.status_code == 409 and "fanpass" in added.json()["error"]
            cart = await client.post("/cart", data={"fanpass": "1"})
            assert cart.status_code == 409 and cart.json()["field"] == "sku"
            placed = await client.post("/order", data={"fanpass": "1", "tender": "cash"})
            assert placed.status_code == 303 and placed.headers["location"].startswith("/?error")
            menu = (await client.get("/")).text
            assert 'id="q-pastel"' in menu and 'id="q-fanpass"' not in menu
            assert planes.node is not None
            sold = await planes.node.box.writer.read(
                lambda conn: conn.execute("SELECT count(*) FROM order_lines").fetchone()[0]
            )
            assert sold == 0  # no order holds it
            assert await issued_rows(planes) == []

    asyncio.run(scenario())


def test_a_paid_pass_is_issued_once_and_kept_across_a_restart(tmp_path: Path) -> None:
    state = new_state(tmp_path)
    box_key = load_key(state)
    grant(state, ANA, "creator:ana", box_key.public)

    async def first() -> tuple[str, str, int]:
        async with node(state) as (client, auth, planes):
            assert 'id="q-fanpass"' in (await client.get("/")).text
            order_id = await buy(client, note="Ana's biggest fan\nsecond line")
            assert planes.node is not None
            real = planes.node.checkout.hooks
            assert real is not None
            planes.node.checkout.hooks = AfterIssuing(real)
            with pytest.raises(OSError):  # the sale fails after the pass was issued in it
                await client.post(f"/api/orders/{order_id}/confirm", json={}, headers=auth)
            planes.node.checkout.hooks = real
            assert await issued_rows(planes) == []  # rolled back with the sale
            state_now = (await client.get(f"/api/orders/{order_id}", headers=auth)).json()
            assert state_now["state"] == "awaiting_payment"
            done = await client.post(f"/api/orders/{order_id}/confirm", json={}, headers=auth)
            assert done.status_code == 200 and done.json()["accepted"], done.text
            again = await client.post(f"/api/orders/{order_id}/confirm", json={}, headers=auth)
            assert again.status_code == 409
            rows = await issued_rows(planes)
            assert [r[0] for r in rows] == [order_id]
            return order_id, rows[0][1], int(done.json()["receipt"]["seq"])

    order_id, text, seq = asyncio.run(first())

    async def second() -> None:
        async with node(state) as (client, auth, planes):  # the node again, same state dir
            assert await issued_rows(planes) == [(order_id, text)]
            page = (await client.get(f"/o/{order_id}")).text
            assert f'data-issued-pass="{text}"' in page and "Pass of Ana&#39;s biggest fan" in page
            png = await client.get(f"/o/{order_id}/pass/0.png")
            assert png.status_code == 200
            decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
            assert [code.text for code in decoded] == [text]
            side = Image.open(io.BytesIO(png.content)).width // 8 - 8  # modules, quiet zone off
            assert (
                side
                == 17 + 4 * version_of(text, MODE_ALPHA_NUM)
                < 17 + 4 * version_of(text, MODE_8BIT_BYTE)
            )  # the size of one alphanumeric segment, smaller than bytes would be
            assert (await client.get(f"/o/{order_id}/pass/1.png")).status_code == 404
            void = await client.post(f"/api/orders/{order_id}/void", json={}, headers=auth)
            assert void.status_code == 200, void.text
            assert planes.node is not None
            stored = await planes.node.box.writer.read(
                lambda conn: list(ledger_sql.iter_receipts(conn))
            )
            items = {r.seq: json.loads(r.items) for r in stored}
            verify_chain([r.line for r in stored], box_key.public, items=items)  # void repeats it
            issued = [i for i in items[seq] if str(i["sku"]).startswith("issued:")]
            assert len(issued) == 1 and issued[0]["of"] == "fanpass"
            assert issued[0]["digest"] == digest(text) and issued[0]["unit"] == 0
            assert f'data-issued-pass="{text}"' not in (await client.get(f"/o/{order_id}")).text

    asyncio.run(second())
    trust = TrustStore({"creator:ana": ANA.public_key()})  # any verifier: creator key + delegation
    trust.add_delegation((state / "passes" / "box.delegation").read_bytes())
    card = trust.verify(text, int(time.time()))
    assert card.holder == "Ana's biggest fan" and card.issuer == "creator:ana"
    assert card.valid_until - card.valid_from == 30 * DAY
    assert card.signed_by == kid_of(box_key.public).hex()  # the box's own key
    assert [e.kind for e in card.entitlements] == [
        Kind.PERCENT_OFF, Kind.ALLOWANCE, Kind.EARLY_ACCESS
    ]  # fmt: skip
    with pytest.raises(Exception, match="undelegated"):
        TrustStore({"creator:ana": ANA.public_key()}).verify(text, int(time.time()))


def test_a_bought_pass_is_used_on_the_next_order(tmp_path: Path) -> None:
    state = new_state(tmp_path)
    grant(state, ANA, "creator:ana", load_key(state).public)

    async def scenario() -> None:
        async with node(state) as (client, auth, planes):
            order_id = await buy(client)
            await client.post(f"/api/orders/{order_id}/confirm", json={}, headers=auth)
            ((_, text),) = await issued_rows(planes)
            assert "Pass of Superfan" in (await client.get(f"/o/{order_id}")).text
            cart = await client.post("/cart", data={"pastel": "2", "pass": text})
            assert cart.status_code == 200 and "\u2212R$1.80" in cart.text

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('sku = "nosuch"\ncreator = "creator:ana"\ndays = 1\n'
         'entitlements = [{ kind = "early_access", value = 5 }]', "passes.products[0].sku"),
        ('sku = "fanpass"\ncreator = "creator:zed"\ndays = 1\n'
         'entitlements = [{ kind = "early_access", value = 5 }]', "passes.products[0].creator"),
        ('sku = "fanpass"\ncreator = "creator:ana"\ndays = 0\n'
         'entitlements = [{ kind = "early_access", value = 5 }]', "passes.products[0].days"),
        ('sku = "fanpass"\ncreator = "creator:ana"\ndays = 1\n'
         'entitlements = [{ kind = "free_lunch", value = 5 }]',
         "passes.products[0].entitlements[0].kind"),
        ('sku = "fanpass"\ncreator = "creator:ana"\ndays = 1\n'
         'entitlements = [{ kind = "percent_off", value = 101 }]',
         "passes.products[0].entitlements[0].value"),
        ('sku = "fanpass"\ncreator = "creator:ana"\ndays = 1\n'
         'entitlements = [{ kind = "allowance", value = 1, period = "week" }]',
         "passes.products[0].entitlements[0].period"),
        ('sku = "fanpass"\ncreator = "creator:ana"\ndays = 1\nentitlements = []',
         "passes.products[0].entitlements"),
        ('sku = "fanpass"\ncreator = "creator:ana"\ndays = 1\ncolour = "red"\n'
         'entitlements = [{ kind = "early_access", value = 5 }]', "passes.products[0].colour"),
    ],
)  # fmt: skip
def test_pass_product_errors_name_the_key(table: str, key: str) -> None:
    ana = raw_public(ANA.public_key()).hex()
    text = (
        sample_config("BRL") + '\n[[catalog]]\nsku = "fanpass"\nname = "Fan pass"\nprice = "3"\n'
        + f'\n[passes]\ncreators = {{ "creator:ana" = "{ana}" }}\n\n[[passes.products]]\n'
        + table + "\n"
    )  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.field == key, str(caught.value)
