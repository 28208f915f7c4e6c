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

import datetime
import hashlib
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.ledger.identity import KEY_FILE, DeviceKey, fingerprint
from appliance.tls_pin import (  # the client's side, which does without cryptography
    CertificateError,
    certificate_fingerprint,
    fetch_certificate,
    pinned_context,
    probe_context,
)

__all__ = [
    "CERT_FILE",
    "CertificateError",
    "build_certificate",
    "certificate_fingerprint",
    "ensure_certificate",
    "fetch_certificate",
    "pinned_context",
    "probe_context",
    "server_context",
    "state_dir_context",
]

CERT_FILE = "operator.crt"
NOT_BEFORE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
NOT_AFTER = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)


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


def state_dir_context(state_dir: Path) -> ssl.SSLContext:
    """A client context pinned to the operator certificate in a state dir (on the box itself)."""
    pem = (state_dir / CERT_FILE).read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return pinned_context(der)
