"""The tender's answer carries the payment code's modules when the console asks (?qr=): the
rows decode (zxing-cpp, off a PNG drawn from them) to exactly the answer's payload, at the
highest level that fits the first side that holds it; a bad ?qr= is refused naming `qr`
before anything is recorded; without ?qr= the answer has no `qr` (nothing is built)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
import zxingcpp
from node_support import running_node
from PIL import Image
from test_tender_policy_api import POLICY, new_order

from appliance.api.operator.tender_qr import asked_sides, hex_rows
from appliance.payments.fit import fit_symbol
from appliance.payments.matrix import QUIET_ZONE, version_for
from appliance.payments.render import render_png
from appliance.payments.segments import shortest_segments


def rows_matrix(size: int, rows: list[str]) -> tuple[tuple[bool, ...], ...]:
    """The wire's hex rows back as modules (as the console reads them)."""
    digits = (size + 3) // 4
    return tuple(
        tuple(c == "1" for c in format(int(row, 16), f"0{digits * 4}b")[:size]) for row in rows
    )


def decode(matrix: tuple[tuple[bool, ...], ...]) -> list[str]:
    """zxing-cpp's reading of the matrix drawn at 4 px a module."""
    image = Image.open(io.BytesIO(render_png(matrix, 4)))
    return [found.text for found in zxingcpp.read_barcodes(image)]


def test_the_tender_answers_the_code_for_the_first_side_that_holds_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state", POLICY) as (client, auth, _):
            order = await new_order(client, auth, pastel=1)  # 9.00: the policy takes pix
            url = f"/api/orders/{order}/tender"
            answer = await client.post(
                url, params={"qr": "30,74"}, json={"tender": "pix"}, headers=auth
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            qr, payload = body["qr"], body["payload"]
            assert qr["fit"] == 1 and qr["level"] == "H"  # 30 holds no Pix code; 74 holds H
            assert qr["size"] == len(qr["rows"]) <= 74
            assert decode(rows_matrix(qr["size"], qr["rows"])) == [payload]
            await client.post(f"/api/orders/{order}/cancel", headers=auth)  # under the exposure
            plain = await client.post(f"/api/orders/{await new_order(client, auth, 1)}/tender",
                                      json={"tender": "pix"}, headers=auth)  # fmt: skip
            assert plain.status_code == 200 and plain.json()["qr"] is None

    asyncio.run(scenario())


@pytest.mark.parametrize("bad", ["", "abc", "1,2,3,4,5", "-1", "1000", "74;80"])
def test_a_bad_qr_query_is_refused_naming_it_and_nothing_is_recorded(
    bad: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state", POLICY) as (client, auth, _):
            order = await new_order(client, auth, pastel=1)
            refused = await client.post(
                f"/api/orders/{order}/tender", params={"qr": bad}, json={"tender": "pix"},
                headers=auth,
            )  # fmt: skip
            assert 400 <= refused.status_code < 500 and refused.json()["field"] == "qr"
            kept = (await client.get(f"/api/orders/{order}", headers=auth)).json()
            assert kept["state"] == "open" and kept["tender"] is None

    asyncio.run(scenario())


def test_sides_are_read_strictly() -> None:
    assert asked_sides(None) is None
    assert asked_sides("74") == (74,)
    assert asked_sides("0,999,46,42") == (0, 999, 46, 42)


def test_the_chosen_level_is_the_highest_that_fits_and_an_epc_code_stays_at_m() -> None:
    pix = "00020126430014br.gov.bcb.pix0121demo@stallbox.example520400005303986540410.005802BR"
    segments = shortest_segments(pix)
    side = {lv: version_for(segments, lv) * 4 + 17 + 2 * QUIET_ZONE for lv in "HQML"}
    where, symbol = fit_symbol(pix, [side["Q"]])  # H is larger: Q is the highest that fits
    assert (where, symbol.level, len(symbol.matrix)) == (0, "Q", side["Q"])
    where, symbol = fit_symbol(pix, [side["L"] - 1])  # nothing fits: the lowest level
    assert (where, symbol.level) == (-1, "L")
    epc = "BCD\n002\n1\nSCT\nCOBADEFFXXX\nCreperie\nDE33100205000001194700\nEUR10.26\n\n\nR"
    assert fit_symbol(epc, [999])[1].level == "M"  # EPC069-12 fixes level M


def test_hex_rows_keep_every_module() -> None:
    matrix = ((True, False, True, True, False),) * 5  # 5 modules: one padding bit a digit pair
    assert hex_rows(matrix) == ["b0"] * 5
    assert rows_matrix(5, hex_rows(matrix)) == matrix
