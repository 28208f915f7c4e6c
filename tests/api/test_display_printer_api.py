"""Customer display tokens and the receipt printer through both planes (in process).

A display token opens /display/state and nothing of the operator API (401); a code is used once
and wrong codes are counted; a printer that refuses the connection leaves the sale paid and
raises the alarm (GET /api/printer, a `printer` event); a working network printer (a TCP server
on loopback) gets bytes whose GS v 0 raster decodes to the sale's receipt line.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import httpx
import zxingcpp
from node_support import running_node

sys.path.insert(0, str(Path(__file__).parents[1] / "printing"))
from escpos_parse import parse

PIX = """
[rails.pix]
kind = "pix"
key = "demo@stallbox.example"
merchant = "PASTELARIA DEMO"
city = "SAO PAULO"
"""


def with_printer(device: str = "") -> str:
    """The Pix rail, and a 58 mm printer at `device` if one is given."""
    return PIX + (f'\n[printer]\ndevice = "{device}"\nwidth_mm = 58\n' if device else "")


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def cash_sale(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, object]:
    made = await client.post(
        "/api/orders", json={"lines": [{"sku": "pastel", "qty": 2}]}, headers=auth
    )
    order = made.json()["id"]
    assert (
        await client.post(f"/api/orders/{order}/tender", json={"tender": "cash"}, headers=auth)
    ).status_code == 200
    done = await client.post(f"/api/orders/{order}/confirm", json={}, headers=auth)
    assert done.status_code == 200, done.text
    answer: dict[str, object] = done.json()
    return answer


def test_a_display_token_reads_its_view_and_nothing_of_the_operator_api(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state", with_printer()) as (client, auth, _node):
            assert (await client.get("/display/state")).status_code == 401
            coded = await client.post("/api/display/code", json={"console": "till-1"}, headers=auth)
            assert coded.status_code == 200 and coded.json()["url"].endswith("/display")
            wrong = "000000" if coded.json()["code"] != "000000" else "111111"
            assert (await client.post("/display/pair", json={"code": wrong})).status_code == 401
            paired = await client.post("/display/pair", json={"code": coded.json()["code"]})
            assert paired.status_code == 200 and paired.json() == {"console": "till-1"}
            token = paired.cookies["sbd"]
            client.cookies.clear()  # each request below says what it sends
            assert "httponly" in paired.headers["set-cookie"].lower()
            again = await client.post("/display/pair", json={"code": coded.json()["code"]})
            assert again.status_code == 401  # a code is used once
            cookie = {"Cookie": f"sbd={token}"}
            assert (await client.get("/display/state", headers=cookie)).status_code == 200
            sale = await cash_sale(client, auth)
            order = sale["order"]["id"]  # type: ignore[index]
            display = {"Authorization": f"Bearer {token}"}
            for method, path in [
                ("GET", "/api/orders"), ("GET", f"/api/orders/{order}"),
                ("POST", f"/api/orders/{order}/confirm"), ("POST", f"/api/orders/{order}/void"),
                ("POST", "/api/display/code"), ("GET", "/api/events"),
            ]:  # fmt: skip
                for headers in (display, cookie):
                    answer = await client.request(method, path, json={}, headers=headers)
                    assert answer.status_code == 401, (method, path, answer.text)
            order_now = await client.get(f"/api/orders/{order}", headers=auth)
            assert order_now.json()["state"] == "paid"

    asyncio.run(scenario())


def test_display_views_come_from_the_order_and_need_the_right_state(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state", with_printer()) as (client, auth, node):
            made = await client.post(
                "/api/orders", json={"lines": [{"sku": "coffee", "qty": 1}]}, headers=auth
            )
            order = made.json()["id"]
            show = {"console": "till-1", "phase": "pay", "order_id": order}
            early = await client.post("/api/display/order", json=show, headers=auth)
            assert early.status_code == 409 and early.json()["field"] == "order_id"
            await client.post(f"/api/orders/{order}/tender", json={"tender": "pix"}, headers=auth)
            shown = await client.post("/api/display/order", json=show, headers=auth)
            assert shown.status_code == 200 and shown.json()["displays"] == 0
            view = node.display_hub._views["till-1"]
            assert b'"phase":"pay"' in view and b"<svg" in view and b"R$ 6,00" in view
            bad = await client.post(
                "/api/display/order", json={"console": "till-1", "phase": "pay"}, headers=auth
            )
            assert bad.status_code == 422 and bad.json()["field"] == "order_id"

    asyncio.run(scenario())


def test_a_printer_that_fails_leaves_the_sale_paid_and_raises_the_alarm(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(
            tmp_path / "state", with_printer(f"network:127.0.0.1:{closed_port()}")
        ) as (
            client,
            auth,
            node,
        ):
            events = node.events.stream(heartbeat_s=0.2)
            assert await anext(events) == "retry: 2000\n\n"
            sale = await cash_sale(client, auth)
            order = sale["order"]["id"]  # type: ignore[index]
            queued = await client.post(
                f"/api/orders/{order}/print", json={"received": 2000}, headers=auth
            )
            assert queued.status_code == 202 and queued.json()["queued"] is True
            assert node.printer is not None
            await asyncio.wait_for(node.printer.idle(), 10)
            state = (await client.get("/api/printer", headers=auth)).json()
            assert state["configured"] and not state["ok"] and state["failed"] == 1
            assert "DeviceNotFoundError" in state["error"] and state["last_order"] == order
            seen = [await asyncio.wait_for(anext(events), 5) for _ in range(4)]
            assert any("event: printer" in e and '"ok":false' in e for e in seen), seen
            assert (await client.get(f"/api/orders/{order}", headers=auth)).json()[
                "state"
            ] == "paid"
            await events.aclose()

    asyncio.run(scenario())


def test_a_network_printer_gets_a_receipt_whose_qr_is_the_receipt_line(tmp_path: Path) -> None:
    async def scenario() -> None:
        got = bytearray()
        done = asyncio.Event()

        async def printer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            got.extend(await reader.read())  # until the node closes the connection
            writer.close()
            done.set()

        server = await asyncio.start_server(printer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with (
            server,
            running_node(tmp_path / "state", with_printer(f"network:127.0.0.1:{port}")) as (
                client,
                auth,
                node,
            ),
        ):
            sale = await cash_sale(client, auth)
            order = sale["order"]["id"]  # type: ignore[index]
            line = sale["receipt"]["line"]  # type: ignore[index]
            await client.post(f"/api/orders/{order}/print", json={"received": 2000}, headers=auth)
            await asyncio.wait_for(done.wait(), 10)
            parsed = parse(bytes(got))
            assert [c.text for c in zxingcpp.read_barcodes(parsed.images[0])] == [line]
            assert any("Troco" in t and "R$ 2,00" in t for t in parsed.text), parsed.text
            assert b"\x1bp" in got  # the drawer kick: a cash sale printed the first time
            queue = node.printer
            assert queue is not None
            deadline = asyncio.get_running_loop().time() + 10
            while queue.state.printed == 0 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)  # the job is counted once the printer's worker is back
            assert queue.state.printed == 1 and queue.state.failed == 0

    asyncio.run(scenario())


def test_a_linked_order_shows_its_payment_on_the_display_at_tender(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state", with_printer()) as (client, auth, node):
            stream = node.display_hub.stream("till-1", heartbeat_s=5)
            assert await anext(stream) == "retry: 1000\n\n"
            assert '"phase":"idle"' in await anext(stream)  # a display follows till-1
            made = await client.post(
                "/api/orders", json={"lines": [{"sku": "coffee", "qty": 1}]}, headers=auth
            )
            order = made.json()["id"]
            line = {"name": "Coffee", "qty": 1, "total": 600}
            cart = {"console": "till-1", "lines": [line], "order_id": order}
            assert (await client.post("/api/display", json=cart, headers=auth)).status_code == 200
            assert '"phase":"cart"' in await asyncio.wait_for(anext(stream), 5)
            await client.post(f"/api/orders/{order}/tender", json={"tender": "pix"}, headers=auth)
            shown = await asyncio.wait_for(anext(stream), 5)  # the console asked for nothing
            assert '"phase":"pay"' in shown and "<svg" in shown and '"reference"' in shown
            await stream.aclose()  # type: ignore[attr-defined]

    asyncio.run(scenario())
