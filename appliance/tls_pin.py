"""The client's side of the operator plane's pinning, without loading cryptography.

A console compares the key a node's certificate carries with its pin before it sends anything
(appliance/tls.py says why the certificate's key is the device key). Reading that key needs no
X.509 library: an Ed25519 SubjectPublicKeyInfo has exactly one DER encoding (RFC 8410 §4: the
algorithm identifier without parameters, then the 32 raw bytes), and it is the seventh field of
the certificate's TBSCertificate (RFC 5280 §4.1). The walk below accepts only definite, minimal
DER lengths that nest exactly, so it finds the same bytes OpenSSL uses in the handshake, where
this same certificate is the only trust anchor (`pinned_context`). Importing cryptography's
X.509 modules for it was ~7% of the console's start CPU, ~0.2 s on a Pi 4
(docs/performance/2026-12-05-console-start-without-httpx.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from appliance.ledger.fingerprints import raw_fingerprint

# SEQUENCE(42) { SEQUENCE(5) { OID 1.3.101.112 (id-Ed25519) }, BIT STRING(33) { 0 unused bits, ...
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
SEQUENCE, INTEGER, VERSION = 0x30, 0x02, 0xA0


class CertificateError(Exception):
    """A certificate that is not an Ed25519 device certificate."""


def _element(der: bytes, at: int, end: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER element at `at`, inside `end`."""
    if at + 2 > end:
        raise CertificateError("not an X.509 certificate (truncated)")
    tag, first = der[at], der[at + 1]
    at += 2
    if first >= 0x80:  # long form: 1-3 length bytes, no leading zero, only for lengths >= 128
        count = first & 0x7F
        if not 1 <= count <= 3 or at + count > end or der[at] == 0:
            raise CertificateError("not an X.509 certificate (a length is not DER)")
        length = int.from_bytes(der[at : at + count], "big")
        if length < 0x80:
            raise CertificateError("not an X.509 certificate (a length is not DER)")
        at += count
    else:
        length = first
    if at + length > end:
        raise CertificateError("not an X.509 certificate (truncated)")
    return tag, at, at + length


def certificate_key(der: bytes) -> bytes:
    """The raw 32 bytes of the Ed25519 key a certificate (DER) carries; CertificateError else."""
    tag, start, end = _element(der, 0, len(der))
    if tag != SEQUENCE or end != len(der):
        raise CertificateError("not an X.509 certificate")
    tag, at, tbs_end = _element(der, start, end)
    if tag != SEQUENCE:
        raise CertificateError("not an X.509 certificate (no TBSCertificate)")
    tag, _, field_end = _element(der, at, tbs_end)
    if tag == VERSION:
        at = field_end
    # serialNumber, signature, issuer, validity, subject: skipped, each of its own type
    for expected in (INTEGER, SEQUENCE, SEQUENCE, SEQUENCE, SEQUENCE):
        tag, _, at_next = _element(der, at, tbs_end)
        if tag != expected:
            raise CertificateError("not an X.509 certificate (TBSCertificate out of order)")
        at = at_next
    tag, _, spki_end = _element(der, at, tbs_end)
    spki = der[at:spki_end]
    if tag != SEQUENCE or len(spki) != 44 or not spki.startswith(ED25519_SPKI_PREFIX):
        raise CertificateError("the certificate's key is not an Ed25519 key")
    return spki[len(ED25519_SPKI_PREFIX) :]


def certificate_fingerprint(der: bytes) -> str:
    """The fingerprint of the Ed25519 key a certificate (DER) carries, as identity.fingerprint."""
    return raw_fingerprint(certificate_key(der))


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
