"""Start the test PSP (psp_server.py) as a real process and give a node its credentials."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from nodeproc import READY_LINE
from psp_tls import MutualTLS, make_mutual_tls

HERE = Path(__file__).resolve().parent
CLIENT_ID = "stallbox-test"
SECRET = "test-secret-not-a-real-one"


@dataclass
class PspProcess:
    """A running test PSP, its TLS files and what it printed."""

    process: subprocess.Popen[str]
    url: str
    tls: MutualTLS
    state: Path
    output: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        """The port it listens on (a restart takes the same one)."""
        return int(self.url.rsplit(":", 1)[1])

    def client(self) -> httpx.Client:
        """A client that shows the node's client certificate and trusts only the test CA."""
        context = ssl.create_default_context(cafile=str(self.tls.ca))
        context.load_cert_chain(self.tls.client_cert, self.tls.client_key)
        return httpx.Client(base_url=self.url, timeout=10, verify=context)

    def pay(self, txid: str, valor: str, e2eid: str = "") -> dict[str, Any]:
        """A payer pays: the PSP records the Pix it received."""
        with self.client() as client:
            made = client.post(
                "/_test/pix", json={"txid": txid, "valor": valor, "endToEndId": e2eid}
            )
            assert made.status_code == 201, made.text
            answer: dict[str, Any] = made.json()
            return answer

    def report(self) -> dict[str, Any]:
        """The PSP's non-conforming answers and how many API requests it served."""
        with self.client() as client:
            found: dict[str, Any] = client.get("/_test/violations").json()
            return found

    def kill(self) -> None:
        """SIGKILL: no goodbye to open connections."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Stop it if it still runs."""
        if self.process.poll() is None:
            self.kill()


def credit_while_down(state: Path, pix: dict[str, Any]) -> None:
    """A Pix the PSP received while its API was down (its store gets it all the same)."""
    existing = json.loads(state.read_text("utf-8")) if state.exists() else []
    state.write_text(json.dumps([*existing, pix]), "utf-8")


def start_psp(where: Path, port: int = 0, deadline_s: float = 20.0) -> PspProcess:
    """Make (or reuse) the TLS files under `where`, start the PSP, wait until it listens."""
    tls = make_mutual_tls(where / "tls")
    state = where / "pix.json"
    process = subprocess.Popen(
        [sys.executable, str(HERE / "psp_server.py"), "--state", str(state), "--cert",
         str(tls.server_cert), "--key", str(tls.server_key), "--ca", str(tls.ca),
         "--client-id", CLIENT_ID, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PSP_CLIENT_SECRET": SECRET},
    )  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True).start()
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for line in list(lines):
            if match := READY_LINE.search(line):
                return PspProcess(process, match[1], tls, state, lines)
        if process.poll() is not None:
            time.sleep(0.1)
            raise AssertionError("PSP exited early:\n" + "".join(lines))
        time.sleep(0.02)
    process.kill()
    raise AssertionError("PSP not ready in time:\n" + "".join(lines))


def give_credentials(box: Path, tls: MutualTLS) -> None:
    """Put the PSP's client certificate, key, CA and OAuth2 client in the box's state dir."""
    where = box / "provider"
    where.mkdir(mode=0o700, exist_ok=True)
    for name, source in (("client.pem", tls.client_cert), ("client.key", tls.client_key),
                         ("ca.pem", tls.ca)):  # fmt: skip
        (where / name).write_bytes(source.read_bytes())
    (where / "client.key").chmod(0o600)
    oauth = where / "oauth.json"
    oauth.write_text(json.dumps({"client_id": CLIENT_ID, "client_secret": SECRET}), "utf-8")
    oauth.chmod(0o600)


def provider_config(url: str, poll_s: float = 1.0, recheck_s: float = 1.0) -> str:
    """The [provider] table for a node that asks this PSP (poll_s: the shipped default)."""
    return (
        f'\n[provider]\nkind = "apipix"\nrail = "pix"\nname = "testpsp"\n'
        f'base_url = "{url}/api/v2"\ntoken_url = "{url}/oauth/token"\n'
        f"poll_s = {poll_s}\nrecheck_s = {recheck_s}\ntimeout_s = 2.0\n"
    )
