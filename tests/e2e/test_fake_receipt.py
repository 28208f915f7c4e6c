"""A fake payment screen, end to end with real processes (issue 14, acceptance "fake receipt").

The vendor confirms a Pix sale by looking at the buyer's phone (offline: no bank link); the
day's statement arrives without the credit; `stallbox reconcile` signs an `unmatched` evidence
line onto the chain; `stallbox ledger verify` still passes; `stallbox sync --once` ships it and
the cloud accepts it under the same rules; the attendee's receipt page and the cloud's evidence
lookup (which its /v page shows) say "unmatched".
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from nodeproc import run_cli, start_node
from syncproc import enrol, start_cloud

from appliance.ledger.wire import line_digest

PIX = '\n[rails.pix]\nkind = "pix"\nkey = "ana@example.com"\nmerchant = "PASTEL DA ANA"\ncity = "RECIFE"\n'
MAP = """
delimiter = ";"
decimal = ","
date_format = "%Y-%m-%d %H:%M %z"
currency = "BRL"
[columns]
date = "Quando"
amount = "Valor"
id = "Id"
text = ["Mensagem"]
"""


def sell_by_sight(box: Path) -> tuple[str, int]:
    """A Pix sale the vendor confirms from the buyer's screen; its order id and receipt seq."""
    node = start_node(box)
    try:
        with node.client(node.pair()) as api:
            made = api.post("/api/orders", json={"lines": [{"sku": "pastel", "qty": 2}]})
            order = made.json()["id"]
            assert (
                api.post(f"/api/orders/{order}/tender", json={"tender": "pix"}).status_code == 200
            )
            done = api.post(f"/api/orders/{order}/confirm", json={}).json()
            assert done["accepted"], done
            assert api.get(f"/api/orders/{order}").json()["evidence"] == "unverified"
        with node.phone() as phone:
            assert "unverified" in phone.get(f"/o/{order}").text
        return order, int(done["receipt"]["seq"])
    finally:
        assert node.stop() == 0


def test_a_fake_pix_screen_ends_unmatched_on_the_chain_the_page_and_the_cloud(
    tmp_path: Path,
) -> None:
    box = tmp_path / "box"
    assert run_cli("init", "--state", str(box)).returncode == 0
    with (box / "stallbox.toml").open("a", encoding="utf-8") as config:
        config.write(PIX)
    order, sale_seq = sell_by_sight(box)

    # the bank's statement runs from an hour before the sale to two hours after: no 18,00 credit
    now = datetime.now(UTC)
    stamp = "%Y-%m-%d %H:%M +0000"
    statement = tmp_path / "extrato.csv"
    statement.write_text(
        "Quando;Id;Mensagem;Valor\n"
        f"{(now - timedelta(hours=1)):{stamp}};E1;aluguel;30,00\n"
        f"{(now + timedelta(hours=2)):{stamp}};E2;outro;6,00\n",
        encoding="utf-8",
    )
    (tmp_path / "bank.toml").write_text(MAP, encoding="utf-8")
    args = [str(statement), "--map", str(tmp_path / "bank.toml"), "--state", str(box)]
    imported = run_cli("reconcile", *args)
    assert imported.returncode == 1, imported.stderr  # an unmatched sale is something to act on
    assert "UNMATCHED SALE" in imported.stdout and "recorded 1 evidence line(s)" in imported.stdout
    assert f"unmatched for order {order} (sale seq {sale_seq})" in imported.stdout
    again = run_cli("reconcile", *args)
    assert "recorded 0 evidence line(s)" in again.stdout  # importing it again changes nothing
    verified = run_cli("ledger", "verify", "--state", str(box))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"up to seq {sale_seq + 1}" in verified.stdout  # the evidence line follows the sale

    cloud = start_cloud(tmp_path / "cloud")
    try:
        enrol(box, tmp_path / "cloud", cloud.url)
        shipped = run_cli("sync", "--once", "--state", str(box))
        assert shipped.returncode == 0, shipped.stderr
        device = run_cli("ledger", "pubkey", "--state", str(box)).stderr.split()[2].rstrip(",")
        with sqlite3.connect(f"file:{box / 'stallbox.db'}?mode=ro", uri=True) as db:
            (line,) = db.execute("SELECT line FROM receipts WHERE seq = ?", (sale_seq,)).fetchone()
        digest = line_digest(line)  # the receipt's own line is what finds it at the cloud
        answer = httpx.get(
            f"{cloud.url}/v1/devices/{device}/receipts/{sale_seq}/{digest}/evidence", timeout=10
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "device": device, "seq": sale_seq, "state": "unmatched", "evidence_seq": sale_seq + 1
        }  # fmt: skip
    finally:
        assert cloud.stop() == 0

    node = start_node(box)
    try:
        with node.phone() as phone:
            page = phone.get(f"/o/{order}").text
        assert 'id="evidence"' in page and "unmatched" in page and "bank ✓" not in page
    finally:
        assert node.stop() == 0
