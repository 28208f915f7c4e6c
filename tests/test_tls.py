"""The operator plane's certificate is the device key's: appliance/tls.py, in-process."""

from __future__ import annotations

import asyncio
import ssl
import stat
from pathlib import Path

import pytest

from appliance.ledger.identity import create_key, fingerprint
from appliance.tls import (
    CERT_FILE,
    CertificateError,
    build_certificate,
    certificate_fingerprint,
    ensure_certificate,
    fetch_certificate,
    pinned_context,
    server_context,
)


def test_the_certificate_carries_the_device_key_and_is_made_once(tmp_path: Path) -> None:
    key = create_key(tmp_path)
    path = ensure_certificate(tmp_path, key, key.key_id)
    assert path == tmp_path / CERT_FILE and stat.S_IMODE(path.stat().st_mode) == 0o644
    der = ssl.PEM_cert_to_DER_cert(path.read_text())
    assert certificate_fingerprint(der) == fingerprint(key.public)
    made = path.stat().st_mtime_ns
    assert ensure_certificate(tmp_path, key, key.key_id).stat().st_mtime_ns == made  # kept
    assert not list(tmp_path.glob("*.tmp"))


def test_a_certificate_for_another_key_or_garbled_is_made_again(tmp_path: Path) -> None:
    key = create_key(tmp_path)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = create_key(other_dir)
    (tmp_path / CERT_FILE).write_text(ssl.DER_cert_to_PEM_cert(build_certificate(other, "x")))
    der = ssl.PEM_cert_to_DER_cert(ensure_certificate(tmp_path, key, "k").read_text())
    assert certificate_fingerprint(der) == fingerprint(key.public)
    (tmp_path / CERT_FILE).write_text("garbage")
    der = ssl.PEM_cert_to_DER_cert(ensure_certificate(tmp_path, key, "k").read_text())
    assert certificate_fingerprint(der) == fingerprint(key.public)
    with pytest.raises(CertificateError):
        certificate_fingerprint(b"not a certificate")


def test_a_pinned_client_accepts_only_its_key_over_tls_13(tmp_path: Path) -> None:
    key = create_key(tmp_path)
    context = server_context(tmp_path, key, key.key_id)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = create_key(other_dir)

    async def run() -> tuple[str, str]:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"ok")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        try:
            der = await fetch_certificate("127.0.0.1", port)
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=pinned_context(der)
            )
            version = writer.get_extra_info("ssl_object").version()
            assert await reader.read() == b"ok"
            writer.close()
            with pytest.raises(ssl.SSLCertVerificationError):
                await asyncio.open_connection(
                    "127.0.0.1", port, ssl=pinned_context(build_certificate(other, "x"))
                )
            return certificate_fingerprint(der), version
        finally:
            server.close()
            await server.wait_closed()

    shown, version = asyncio.run(run())
    assert shown == fingerprint(key.public) and version == "TLSv1.3"
