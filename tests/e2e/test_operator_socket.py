"""On-box pairing over the node's Unix socket: the node's own user pairs with no code, others cannot."""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from nodeproc import NodeProcess, run_cli, start_node

from appliance.unix_listener import SOCKET_NAME, PeerCred, allowed
from tui.client import NodeClient

# What a local user who is not the node's runs: plain stdlib, one request, the status line out.
PROBE = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as exc:
    print("connect refused:", type(exc).__name__)
    sys.exit(0)
s.sendall(b"POST /api/pair/local HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 2\\r\\n"
          b"Connection: close\\r\\n\\r\\n{}")
got = b""
while chunk := s.recv(4096):  # to the end: head and body may come in separate segments
    got += chunk
print(got.decode("latin-1"))
"""


OPERATOR_GROUP = "users"  # present on Debian; stands in for the install's operator group
SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")  # not under /root: `nobody` runs it


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    running = start_node(tmp_path / "s")
    yield running
    running.stop()


def local_client(path: Path) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), base_url="http://node")


def test_the_nodes_own_user_pairs_with_no_code(node: NodeProcess) -> None:
    sock = node.state / SOCKET_NAME
    assert stat.S_ISSOCK(sock.lstat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600  # no operator group configured
    with local_client(sock) as local:
        answer = local.post("/api/pair/local", json={"name": "tty1"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["fingerprint"] == node.fingerprint
    with node.client(answer.json()["token"]) as api:  # the token works on the network API too
        assert api.get("/api/catalog").status_code == 200


def test_over_tcp_the_local_route_does_not_exist(node: NodeProcess) -> None:
    with node.client() as client:
        assert client.post("/api/pair/local", json={"name": "x"}).status_code == 404


def test_the_socket_goes_with_the_node_and_a_stale_one_is_replaced(tmp_path: Path) -> None:
    first = start_node(tmp_path / "s")
    sock = first.state / SOCKET_NAME
    assert first.stop() == 0 and not sock.exists()
    first = start_node(tmp_path / "s")
    first.process.kill()  # no clean stop: the socket file stays behind
    first.process.wait(10)
    assert sock.exists()
    second = start_node(tmp_path / "s")
    try:
        with local_client(sock) as local:
            assert local.post("/api/pair/local", json={"name": "x"}).status_code == 200
    finally:
        second.stop()


def test_the_console_pairs_over_the_socket(node: NodeProcess) -> None:
    async def pair() -> tuple[str, int]:
        client = NodeClient(f"unix:{node.state / SOCKET_NAME}")
        try:
            answer = await client.pair_local("tty1")
            catalog = await client.catalog()  # and then works over the socket
        finally:
            await client.close()
        return answer.fingerprint, len(catalog)

    shown, items = asyncio.run(pair())
    assert shown == node.fingerprint and items > 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a probe as another user")
def test_another_local_user_cannot_pair(node: NodeProcess) -> None:
    sock = node.state / SOCKET_NAME
    nobody = pwd.getpwnam("nobody")
    python = next((p for p in SYSTEM_PYTHONS if Path(p).exists()), None)
    if python is None:
        pytest.skip("no system python3 that another user can run")
    for part in (node.state, *node.state.parents):  # let `nobody` reach the socket file
        if part == Path("/"):
            break
        part.chmod(part.stat().st_mode | 0o011)

    def probe() -> str:
        done = subprocess.run(
            [python, "-c", PROBE, str(sock)], user=nobody.pw_uid, group=nobody.pw_gid,
            extra_groups=[], capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return done.stdout

    assert "connect refused: PermissionError" in probe()  # the file mode keeps it out
    sock.chmod(0o666)  # a loose mode: now the peer credentials alone must refuse it
    answer = probe()
    assert answer.startswith("HTTP/1.1 403"), answer
    assert f"uid {nobody.pw_uid} may not pair" in answer and "SBT1" not in answer


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a probe as another user")
def test_a_member_of_the_operator_group_may_pair(tmp_path: Path) -> None:
    python = next((p for p in SYSTEM_PYTHONS if Path(p).exists()), None)
    if python is None:
        pytest.skip("no system python3 that another user can run")
    state = tmp_path / "s"
    assert run_cli("init", "--state", str(state)).returncode == 0
    config = state / "stallbox.toml"
    text = config.read_text()
    config.write_text(text.replace("[node]\n", f'[node]\noperator_group = "{OPERATOR_GROUP}"\n', 1))
    gid = grp.getgrnam(OPERATOR_GROUP).gr_gid
    running = start_node(state)
    try:
        sock = state / SOCKET_NAME
        assert stat.S_IMODE(sock.stat().st_mode) == 0o660 and sock.stat().st_gid == gid
        for part in (state, *state.parents):
            if part == Path("/"):
                break
            part.chmod(part.stat().st_mode | 0o011)
        nobody = pwd.getpwnam("nobody")

        def probe(groups: list[int]) -> str:
            return subprocess.run(
                [python, "-c", PROBE, str(sock)], user=nobody.pw_uid, group=nobody.pw_gid,
                extra_groups=groups, capture_output=True, text=True, timeout=30, check=True,
            ).stdout  # fmt: skip

        assert probe([gid]).startswith("HTTP/1.1 200"), "a member pairs"
        assert "connect refused: PermissionError" in probe([])  # not a member: the mode says no
    finally:
        running.stop()


def test_who_may_pair() -> None:
    me = os.getuid()
    assert allowed(PeerCred(1, me, 1234), uid=me, group=None)
    assert allowed(PeerCred(1, 0, 0), uid=me, group=None)  # root
    assert not allowed(PeerCred(1, 65534, 65534), uid=1000, group=None)
    assert allowed(PeerCred(1, 65534, 4242), uid=1000, group=4242)  # the operator group
    assert allowed(PeerCred(1, 65534, 65534, (10, 4242)), uid=1000, group=4242)  # supplementary
    assert not allowed(PeerCred(1, 65534, 65534, (10,)), uid=1000, group=4242)
