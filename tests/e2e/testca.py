"""Throwaway certificates for a test cloud: a CA and a server certificate it signs, per test.

The sync daemon verifies the cloud's certificate (system CAs, or a private CA file given at
enrolment); tests run `stallbox cloud serve --tls-cert --tls-key` with these and enrol with
`--ca-file`. ECDSA P-256 keeps generation at a few milliseconds.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True, slots=True)
class ThrowawayCA:
    """A CA file and a server certificate + key signed by it."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def context(self) -> ssl.SSLContext:
        """A client context that trusts only this CA (for the test's own requests)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def serve_args(self) -> tuple[str, ...]:
        """The `stallbox cloud serve` arguments that make it serve HTTPS with this cert."""
        return ("--tls-cert", str(self.cert_file), "--tls-key", str(self.key_file))


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def make_ca(where: Path, ips: tuple[str, ...] = ("127.0.0.1",), name: str = "test") -> ThrowawayCA:
    """Write ca.pem, cloud.pem and cloud.key under `where` for a server at `ips` (kept if there:
    a restarted cloud must show a certificate its enrolled boxes still trust)."""
    made = ThrowawayCA(where / "ca.pem", where / "cloud.pem", where / "cloud.key")
    if all(path.exists() for path in (made.ca_file, made.cert_file, made.key_file)):
        return made
    where.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{name} CA"))
        .issuer_name(_name(f"{name} CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{name} cloud"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (where / "ca.pem").write_bytes(ca.public_bytes(pem))
    (where / "cloud.pem").write_bytes(cert.public_bytes(pem))
    (where / "cloud.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (where / "cloud.key").chmod(0o600)
    return ThrowawayCA(where / "ca.pem", where / "cloud.pem", where / "cloud.key")
