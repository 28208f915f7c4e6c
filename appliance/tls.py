"""TLS bound to the device identity: the operator plane's certificate and both sides' contexts.

The node's TLS key IS its Ed25519 device key: the certificate is self-signed by that key, so
the fingerprint people compare by eye (`stallbox ledger pubkey`, `stallbox discover`, the
console's pin: SHA-256 of the raw public key) is exactly what the TLS 1.3 handshake proves.
No CA is involved and none is needed: a console trusts one certificate, the one whose key it
pinned, and only over TLS 1.3 (the only version whose signature schemes include Ed25519 here).

The certificate holds nothing secret; it is written atomically next to the key and rebuilt
only when missing or not for this key. Its validity runs from 2000 to 9999 (RFC 5280 §4.1.2.5:
"no well-defined expiration date"), because a box without a real-time clock may start in 1970
or in the past, and a pin must not expire with a date.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.ledger.identity import KEY_FILE, DeviceKey, fingerprint

CERT_FILE = "operator.crt"
NOT_BEFORE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
NOT_AFTER = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)


class CertificateError(Exception):
    """A certificate that is not an Ed25519 device certificate."""


def build_certificate(key: DeviceKey, name: str) -> bytes:
    """A self-signed X.509 certificate (DER) for the device key, named after the device id."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"stallbox {name}")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public)
        .serial_number(int.from_bytes(hashlib.sha256(ski.digest).digest()[:16], "big") >> 1)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(f"stallbox-{name}.local")]), critical=False
        )
        .sign(key.private, None)
    )
    return cert.public_bytes(serialization.Encoding.DER)


def certificate_fingerprint(der: bytes) -> str:
    """The fingerprint of the Ed25519 key a certificate (DER) carries, as identity.fingerprint."""
    try:
        public = x509.load_der_x509_certificate(der).public_key()
    except ValueError as exc:
        raise CertificateError(f"not an X.509 certificate ({exc})") from None
    if not isinstance(public, Ed25519PublicKey):
        raise CertificateError(f"the certificate's key is a {type(public).__name__}, not Ed25519")
    return fingerprint(public)


def ensure_certificate(state_dir: Path, key: DeviceKey, name: str) -> Path:
    """The path of the operator certificate for `key`, written atomically if missing or stale."""
    path = state_dir / CERT_FILE
    try:
        pem = path.read_bytes()
        cert = x509.load_pem_x509_certificate(pem)
        if certificate_fingerprint(cert.public_bytes(serialization.Encoding.DER)) == fingerprint(
            key.public
        ):
            return path
    except (OSError, ValueError, CertificateError):
        pass  # missing, garbled or for another key: the key is the identity, rebuild from it
    der = build_certificate(key, name)
    pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
    temp = path.with_name(CERT_FILE + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    dir_fd = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def server_context(state_dir: Path, key: DeviceKey, name: str) -> ssl.SSLContext:
    """TLS 1.3 only, the device key and its certificate: the operator plane's server side."""
    cert = ensure_certificate(state_dir, key, name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, state_dir / KEY_FILE)
    return context


def probe_context() -> ssl.SSLContext:
    """A client context that accepts any certificate: only to learn which key a node shows.

    Nothing is sent over a connection made with it; the caller compares the key with its pin
    and then talks only through `pinned_context`.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def pinned_context(der: bytes) -> ssl.SSLContext:
    """A client context whose only trust anchor is this one certificate (TLS 1.3, no hostname)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False  # the pinned key is the identity, not a name
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=der)
    return context


def state_dir_context(state_dir: Path) -> ssl.SSLContext:
    """A client context pinned to the operator certificate in a state dir (on the box itself)."""
    pem = (state_dir / CERT_FILE).read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return pinned_context(der)


async def fetch_certificate(host: str, port: int, timeout_s: float = 5.0) -> bytes:
    """Handshake with host:port, send nothing, and return the certificate (DER) it showed."""
    async with asyncio.timeout(timeout_s):
        _, writer = await asyncio.open_connection(
            host, port, ssl=probe_context(), server_hostname=None, ssl_handshake_timeout=timeout_s
        )
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):  # a peer that hangs up first is fine
            await writer.wait_closed()
    if not der:
        raise CertificateError(f"{host}:{port} showed no certificate")
    return bytes(der)
