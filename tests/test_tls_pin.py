"""The pin's key read from a certificate without cryptography (appliance/tls_pin.py).

The DER walk must find exactly the key cryptography's X.509 parser finds in every device
certificate, and refuse anything else: another kind of key, an Ed25519 key info with
parameters (RFC 8410 §3: they MUST be absent), lengths that are not DER, a truncated or
padded certificate. The Ed25519 SubjectPublicKeyInfo bytes are RFC 8410 §10.1's example.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.ledger.identity import create_key, fingerprint
from appliance.tls import build_certificate
from appliance.tls_pin import ED25519_SPKI_PREFIX, CertificateError, certificate_fingerprint

# RFC 8410 §10.1, "Example Ed25519 Public Key" (base64 of the SubjectPublicKeyInfo)
RFC8410_SPKI = bytes.fromhex(
    "302a300506032b657003210019bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1"
)


def test_the_prefix_is_rfc_8410s() -> None:
    assert RFC8410_SPKI.startswith(ED25519_SPKI_PREFIX) and len(RFC8410_SPKI) == 44


def test_the_walk_finds_the_key_cryptography_finds(tmp_path: Path) -> None:
    for n in range(12):
        key = create_key(tmp_path, f"key{n}")
        der = build_certificate(key, "x" * (n * 4 + 1))  # names of several lengths
        assert certificate_fingerprint(der) == fingerprint(key.public)
        public = x509.load_der_x509_certificate(der).public_key()
        assert certificate_fingerprint(der) == fingerprint(public)  # type: ignore[arg-type]


def p256_certificate() -> bytes:
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "not a box")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(1)
        .not_valid_before(datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC))
        .sign(private, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.DER)


def test_anything_but_an_ed25519_device_certificate_is_refused(tmp_path: Path) -> None:
    der = build_certificate(create_key(tmp_path), "k")
    spki_at = der.index(ED25519_SPKI_PREFIX)
    with_params = bytearray(der)  # the algorithm's SEQUENCE claims 7 bytes: NULL parameters
    with_params[spki_at + 3] = 0x07
    bad = {
        "p-256": p256_certificate(),
        "garbage": b"not a certificate",
        "empty": b"",
        "truncated": der[:-1],
        "padded": der + b"\x00",
        "indefinite length": b"\x30\x80" + der[4:] + b"\x00\x00",
        "non-minimal length": b"\x30\x83\x00" + der[2:],
        "parameters": bytes(with_params),
        "a key cut short": der[: spki_at + 43] + der[spki_at + 44 :],
    }
    assert [why for why, text in bad.items() if not refused(text)] == []


def refused(der: bytes) -> bool:
    """Whether the walk refuses `der` with a CertificateError."""
    try:
        certificate_fingerprint(der)
    except CertificateError:
        return True
    return False
