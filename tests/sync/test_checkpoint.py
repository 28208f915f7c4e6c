"""Signed notes and checkpoints against Go's note package, a real sum.golang.org checkpoint, and
the strict-parsing rules of c2sp.org/signed-note and c2sp.org/tlog-checkpoint.

Vectors (public test data, quoted with their source):
- golang.org/x/mod sumdb/note/note.go (package docs) and note_test.go: the PeterNeumann and
  EnochRoot keys, the signed "cryptography" note and the mangled-key cases.
- github.com/transparency-dev/formats log/note_test.go, TestSumDBNoteParsing: a checkpoint
  signed by sum.golang.org and its verifier key.
- c2sp.org/tlog-checkpoint: the example checkpoint text.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.checkpoint import (
    Checkpoint,
    NoteSignature,
    NoteVerifier,
    format_checkpoint,
    key_id,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verifier_key,
    verify_checkpoint,
)
from sync.errors import NoteError, SignatureError, VerifierKeyError
from sync.tlog import EMPTY_ROOT

# golang.org/x/mod/sumdb/note
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"

# transparency-dev/formats log/note_test.go
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n"
    "— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n"
)

ROOT = hashlib.sha256(b"a root").digest()


def peter_private() -> Ed25519PrivateKey:
    raw = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert raw[0] == 1
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


PETER = parse_verifier_key(PETER_VKEY)
ENOCH = parse_verifier_key(ENOCH_VKEY)
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
LOG = NoteVerifier.from_public_key("cloud.stallbox.example/log", LOG_KEY.public_key())


# --- verifier keys ------------------------------------------------------------------------------


def test_go_verifier_keys_parse_and_print_back() -> None:
    assert (PETER.name, PETER.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert (ENOCH.name, ENOCH.key_id) == ("EnochRoot", 0xAF0CFE78)
    assert str(PETER) == PETER_VKEY
    assert verifier_key("PeterNeumann", peter_private().public_key()) == PETER_VKEY
    # The key id is SHA-256(name || "\n" || 0x01 || public key)[:4], big-endian.
    raw = PETER.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashlib.sha256(b"PeterNeumann\n\x01" + raw).digest()
    assert key_id("PeterNeumann", PETER.public_key) == int.from_bytes(digest[:4], "big")
    assert str(parse_verifier_key(SUMDB_VKEY)) == SUMDB_VKEY  # base64 with '+' inside


def test_every_mangled_verifier_key_is_refused() -> None:
    """As in note_test.go TestNewVerifier: every proper substring and every byte bumped by one."""
    bad = [
        PETER_VKEY[i:j]
        for i in range(len(PETER_VKEY) + 1)
        for j in range(i + 1, len(PETER_VKEY) + 1)
    ]
    bad.remove(PETER_VKEY)
    bad += [
        PETER_VKEY[:i] + chr(ord(c) + 1) + PETER_VKEY[i + 1 :] for i, c in enumerate(PETER_VKEY)
    ]
    bad += [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # key too long
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown algorithm
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "",
    ]
    for text in bad:
        with pytest.raises(VerifierKeyError):
            parse_verifier_key(text)


def test_key_names_with_spaces_or_plus_are_refused() -> None:
    for name in ["", "a b", "a+b", "a\u00a0b", "a\nb"]:
        with pytest.raises(VerifierKeyError):
            NoteVerifier.from_public_key(name, LOG_KEY.public_key())


# --- notes --------------------------------------------------------------------------------------


def test_signing_reproduces_the_go_note_byte_for_byte() -> None:
    assert sign_note(peter_private(), "PeterNeumann", TEXT) == TEXT + "\n" + PETER_SIG


def test_opening_go_notes() -> None:
    peter = NoteSignature("PeterNeumann", 0xC74F20A3, base64.b64decode(PETER_SIG.split()[2])[4:])
    enoch = NoteSignature("EnochRoot", 0xAF0CFE78, base64.b64decode(ENOCH_SIG.split()[2])[4:])
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    opened = open_note(note, [PETER])
    assert (opened.text, opened.verified, opened.unverified) == (TEXT, (peter,), (enoch,))
    opened = open_note(note.encode(), [PETER, ENOCH])
    assert (opened.verified, opened.unverified) == ((peter, enoch), ())
    with pytest.raises(SignatureError, match="no signature by a trusted key"):
        open_note(note, [])
    # Repeated identical signatures count once.
    opened = open_note(TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG, [PETER])
    assert (len(opened.verified), len(opened.unverified)) == (1, 1)


def test_a_bad_signature_by_a_trusted_key_rejects_the_note() -> None:
    forged = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(SignatureError, match="bad signature"):
        open_note(TEXT + "\n" + forged, [PETER])
    with pytest.raises(SignatureError):
        open_note(TEXT + "\n" + PETER_SIG + forged, [PETER])
    with pytest.raises(SignatureError):
        open_note(TEXT.replace("answer", "Answer") + "\n" + PETER_SIG, [PETER])


def test_signatures_sharing_only_a_name_or_only_an_id_are_ignored() -> None:
    other = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    same_name = sign_note(other, "PeterNeumann", TEXT).split("\n\n")[1]
    raw = base64.b64decode(PETER_SIG.split()[2])
    same_id = "— CarmenSandiego " + base64.b64encode(raw[:4] + b"\x00" * 64).decode() + "\n"
    opened = open_note(TEXT + "\n" + same_name + same_id + PETER_SIG, [PETER])
    assert len(opened.verified) == 1
    assert [s.name for s in opened.unverified] == ["PeterNeumann", "CarmenSandiego"]


def test_too_many_signatures() -> None:
    assert open_note(TEXT + "\n" + PETER_SIG * 100, [PETER]).text == TEXT
    with pytest.raises(NoteError):
        open_note(TEXT + "\n" + PETER_SIG * 101, [PETER])


@pytest.mark.parametrize(
    "note",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT
        + "\n"
        + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG.replace("—", "-"),
        TEXT + "\n" + PETER_SIG.replace("— ", "—"),
        TEXT + "\n" + PETER_SIG.replace("=\n", "\n"),  # unpadded base64
        TEXT + "\n" + PETER_SIG.replace("/", "_"),  # URL-safe alphabet
        TEXT + "\n" + PETER_SIG.replace("AM=", "AN="),  # non-canonical trailing bits
        TEXT + "\n" + "— PeterNeumann x08g\n",  # fewer than 5 bytes
        TEXT + "\n" + "— PeterNeumann \n",
        TEXT + "\n" + PETER_SIG + "\n",
        TEXT.replace("\n", "\r\n") + "\r\n" + PETER_SIG,
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(NoteError):
        open_note(note, [PETER])


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(NoteError):
        open_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), [PETER])


def test_signing_refuses_bad_text_and_names() -> None:
    with pytest.raises(NoteError):
        sign_note(LOG_KEY, "log", "no newline")
    with pytest.raises(NoteError):
        sign_note(LOG_KEY, "log", "tab\there\n")
    with pytest.raises(VerifierKeyError):
        sign_note(LOG_KEY, "bad name", "text\n")


def test_ambiguous_trusted_keys_are_refused() -> None:
    impostor = NoteVerifier(PETER.name, PETER.key_id, LOG_KEY.public_key())
    with pytest.raises(SignatureError, match="share"):
        open_note(TEXT + "\n" + PETER_SIG, [PETER, impostor])


# --- checkpoints --------------------------------------------------------------------------------


def test_the_sumdb_checkpoint_verifies() -> None:
    checkpoint = verify_checkpoint(
        SUMDB_NOTE, parse_verifier_key(SUMDB_VKEY), origin="go.sum database tree"
    )
    assert checkpoint == Checkpoint(
        "go.sum database tree",
        6476701,
        base64.b64decode("mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk="),
    )
    with pytest.raises(NoteError, match="expected"):
        verify_checkpoint(SUMDB_NOTE, parse_verifier_key(SUMDB_VKEY), origin="Go rocks")
    with pytest.raises(SignatureError):
        verify_checkpoint(SUMDB_NOTE, PETER)


def test_the_c2sp_example_checkpoint_parses() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    checkpoint = parse_checkpoint(text)
    assert (checkpoint.origin, checkpoint.size, checkpoint.extensions) == (
        "example.com/behind-the-sofa",
        20852163,
        (),
    )
    assert format_checkpoint(checkpoint) == text


def test_sign_and_verify_a_checkpoint() -> None:
    note = sign_checkpoint(LOG_KEY, LOG.name, "cloud.stallbox.example/log", 42, ROOT, ["ext one"])
    body, sigs = note.split("\n\n")
    assert body == f"cloud.stallbox.example/log\n42\n{base64.b64encode(ROOT).decode()}\next one"
    assert sigs.startswith("\u2014 cloud.stallbox.example/log ") and sigs.endswith("\n")
    assert base64.b64decode(sigs.split()[2])[:4] == LOG.key_id.to_bytes(4, "big")
    assert verify_checkpoint(note, parse_verifier_key(str(LOG))) == Checkpoint(
        "cloud.stallbox.example/log", 42, ROOT, ("ext one",)
    )
    empty = sign_checkpoint(LOG_KEY, LOG.name, "o", 0, EMPTY_ROOT)
    assert verify_checkpoint(empty, LOG).size == 0


def test_a_witness_cosignature_by_an_unknown_key_is_ignored() -> None:
    note = sign_checkpoint(LOG_KEY, LOG.name, "log", 7, ROOT)
    witness = Ed25519PrivateKey.from_private_bytes(b"\x09" * 32)
    cosigned = (
        note + sign_note(witness, "witness.example", note.split("\n\n")[0] + "\n").split("\n\n")[1]
    )
    assert verify_checkpoint(cosigned, LOG).size == 7


@pytest.mark.parametrize(
    "body",
    [
        "log\n7\n{root}",  # no trailing newline
        "log\n7\n",
        "\n7\n{root}\n",
        "log\n07\n{root}\n",
        "log\n+7\n{root}\n",
        "log\n 7\n{root}\n",
        "log\n7 \n{root}\n",
        "log\n-1\n{root}\n",
        "log\n\u0667\n{root}\n",  # ARABIC-INDIC DIGIT SEVEN: int() takes it, the spec does not
        "log\n1_0\n{root}\n",
        "log\n18446744073709551616\n{root}\n",
        "log\n7\n{root_short}\n",
        "log\n7\n{root_unpadded}\n",
        "log\n7\n{root_urlsafe}\n",
        "log\n7\n{root}\n\n",
        "log\n7\n{root}\next\n\nmore\n",
    ],
)
def test_malformed_checkpoints_are_refused(body: str) -> None:
    root = base64.b64encode(b"\xfb" * 32).decode()
    text = body.format(
        root=root,
        root_short=base64.b64encode(b"\xfb" * 31).decode(),
        root_unpadded=root.rstrip("="),
        root_urlsafe=base64.urlsafe_b64encode(b"\xfb" * 32).decode(),
    )
    with pytest.raises(NoteError):
        parse_checkpoint(text)
    if text.endswith("\n"):  # even signed by the trusted key, a malformed body is refused
        with pytest.raises(NoteError):
            verify_checkpoint(sign_note(LOG_KEY, LOG.name, text), LOG)


def test_the_largest_size_is_accepted() -> None:
    root = base64.b64encode(ROOT).decode()
    assert parse_checkpoint(f"log\n18446744073709551615\n{root}\n").size == 2**64 - 1


@pytest.mark.parametrize(
    "checkpoint",
    [
        Checkpoint("", 1, ROOT),
        Checkpoint("two\nlines", 1, ROOT),
        Checkpoint("log", -1, ROOT),
        Checkpoint("log", 2**64, ROOT),
        Checkpoint("log", 1, ROOT[:31]),
        Checkpoint("log", 1, ROOT, ("",)),
        Checkpoint("log", 1, ROOT, ("a\nb",)),
        Checkpoint("log\t", 1, ROOT),
    ],
)
def test_formatting_refuses_what_parsing_would_refuse(checkpoint: Checkpoint) -> None:
    with pytest.raises(NoteError):
        format_checkpoint(checkpoint)


_LINE = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    origin=_LINE,
    size=st.integers(min_value=0, max_value=2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(_LINE, max_size=3),
)
def test_checkpoints_round_trip(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    note = sign_checkpoint(LOG_KEY, LOG.name, origin, size, root, extensions)
    assert verify_checkpoint(note, LOG) == checkpoint
    assert parse_checkpoint(format_checkpoint(checkpoint)) == checkpoint


_NOTE = sign_checkpoint(LOG_KEY, LOG.name, "cloud.stallbox.example/log", 123456, ROOT)


@settings(max_examples=200, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=len(_NOTE) - 1), char=st.sampled_from("A0+/=\n —ab")
)
def test_any_one_character_change_to_a_signed_checkpoint_is_refused(
    position: int, char: str
) -> None:
    changed = _NOTE[:position] + char + _NOTE[position + 1 :]
    if changed == _NOTE:
        return
    with pytest.raises(NoteError):
        verify_checkpoint(changed, LOG)
