"""`stallbox passes keygen` and `stallbox passes delegate` (issue 19): the delegation a creator
grants a box at enrolment verifies under the creator's key and names the box's key and window;
a file already there, a key that is no key, a bad window are refused with a non-zero exit."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.cli import main
from appliance.errors import ExitCode
from appliance.ledger.identity import create_key, public_key_text
from appliance.passes.cose import raw_public
from appliance.passes.trust import TrustStore


def keygen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Ed25519PublicKey:
    assert main(["passes", "keygen", "--out", str(tmp_path / "ana.key")]) == ExitCode.OK
    assert stat.S_IMODE((tmp_path / "ana.key").stat().st_mode) == 0o600
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(capsys.readouterr().out.split()[0]))


@pytest.mark.parametrize("form", ["base64url", "hex", "state"])
def test_a_delegation_names_the_box_key_and_verifies_under_the_creator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    creator = keygen(tmp_path, capsys)
    box = create_key(tmp_path, "device.key").public
    which = {
        "base64url": ["--box-key", public_key_text(box)],
        "hex": ["--box-key", raw_public(box).hex()],
        "state": ["--state", str(tmp_path)],
    }[form]
    out = tmp_path / "ana.delegation"
    code = main([
        "passes", "delegate", "--creator-key", str(tmp_path / "ana.key"), "--issuer",
        "creator:ana", *which, "--days", "2", "--start", "1790000000", "--out", str(out),
    ])  # fmt: skip
    assert code == ExitCode.OK
    signer = TrustStore({"creator:ana": creator}).add_delegation(out.read_bytes())
    assert raw_public(signer.public) == raw_public(box) and signer.issuer == "creator:ana"
    assert (signer.valid_from, signer.valid_until) == (1790000000, 1790000000 + 2 * 86_400)


def test_a_box_key_text_starting_with_a_dash_is_the_value_not_an_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    creator = keygen(tmp_path, capsys)
    box = next(  # 1 base64url key in 64 starts with "-": argparse would take it for an option
        key for key in (Ed25519PrivateKey.generate().public_key() for _ in range(10_000))
        if public_key_text(key).startswith("-")
    )  # fmt: skip
    out = tmp_path / "ana.delegation"
    code = main([
        "passes", "delegate", "--creator-key", str(tmp_path / "ana.key"), "--issuer",
        "creator:ana", "--box-key", public_key_text(box), "--out", str(out),
    ])  # fmt: skip
    assert code == ExitCode.OK
    signer = TrustStore({"creator:ana": creator}).add_delegation(out.read_bytes())
    assert raw_public(signer.public) == raw_public(box)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--box-key", "not-a-key"], "public key"),
        (["--box-key", "00" * 32, "--days", "0"], "--days"),
        (["--box-key", "00" * 32, "--out-exists"], "already exists"),
    ],
)
def test_bad_arguments_exit_non_zero_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    keygen(tmp_path, capsys)
    out = tmp_path / "ana.delegation"
    if "--out-exists" in args:
        args = [a for a in args if a != "--out-exists"]
        args[1] = raw_public(create_key(tmp_path, "device.key").public).hex()
        out.write_bytes(b"kept")
    code = main([
        "passes", "delegate", "--creator-key", str(tmp_path / "ana.key"), "--issuer",
        "creator:ana", *args, "--out", str(out),
    ])  # fmt: skip
    assert code != ExitCode.OK
    assert said in capsys.readouterr().err
    assert not out.exists() or out.read_bytes() == b"kept"
