"""`stallbox ledger verify` as a user runs it: exit 0 ok, 1 chain broken, 2 usage or unreadable.

The exit codes and messages are the ones README.md and docs/receipt-format.md state.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent / "ledger"))
from chainkit import KEY, NEXT, base, build

from appliance.ledger.identity import public_key_text
from appliance.ledger.receipt import b64

REPO = Path(__file__).resolve().parents[1]


def stallbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli", *args], capture_output=True, text=True,
        check=False, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


@pytest.fixture
def export(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """An export file of the ten-receipt base chain and a key file with both epochs' keys."""
    chain, _ = build(base())
    (tmp_path / "receipts.txt").write_text("\n".join(chain.lines) + "\n", encoding="ascii")
    keys = f"{public_key_text(KEY.public)}\n{public_key_text(NEXT.public)}\n"
    (tmp_path / "device.pub").write_text(keys, encoding="ascii")
    return tmp_path / "receipts.txt", tmp_path / "device.pub", chain.lines


def test_a_whole_file_verifies_and_prints_its_head(export: tuple[Path, Path, list[str]]) -> None:
    lines_file, pub, _ = export
    result = stallbox("ledger", "verify", str(lines_file), "--pubkey", str(pub))
    assert result.returncode == 0, result.stderr
    head = f"9:{b64(build(base())[0].receipts[-1].hash)}"
    assert f"ok, 10 receipts up to seq 9, device {KEY.key_id}, head {head}" in result.stdout
    again = stallbox("ledger", "verify", str(lines_file), "--pubkey", str(pub), "--head", head)
    assert again.returncode == 0, again.stderr


def test_a_non_ascii_byte_is_a_broken_chain_at_its_seq(
    export: tuple[Path, Path, list[str]],
) -> None:
    lines_file, pub, lines = export
    data = lines_file.read_bytes()
    at = data.index(lines[4].encode()) + 30
    lines_file.write_bytes(data[:at] + b"\xe9" + data[at + 1 :])
    result = stallbox("ledger", "verify", str(lines_file), "--pubkey", str(pub))
    assert result.returncode == 1, result.stderr
    assert (
        "chain broken at seq 4: line 5: line: character 0xe9 at column 31 is not ASCII (rule 1)"
        in (result.stderr)
    )


def test_a_cut_tail_is_broken_only_against_the_known_head(
    export: tuple[Path, Path, list[str]],
) -> None:
    lines_file, pub, lines = export
    head = f"9:{b64(build(base())[0].receipts[-1].hash)}"
    lines_file.write_text("\n".join(lines[:6]) + "\n", encoding="ascii")
    alone = stallbox("ledger", "verify", str(lines_file), "--pubkey", str(pub))
    assert alone.returncode == 0, alone.stderr  # a file alone cannot show a missing tail
    known = stallbox("ledger", "verify", str(lines_file), "--pubkey", str(pub), "--head", head)
    assert known.returncode == 1
    assert "chain broken at seq 6: missing: the chain ends here but the known head is seq 9" in (
        known.stderr
    )
    assert known.stderr.rstrip().endswith("(rule 14)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--head", "9"), "--head: '' is not a 22-character base64url hash"),
        (("--head", "x:AAAAAAAAAAAAAAAAAAAAAA"), "--head: 'x' is not a seq"),
        (("--pubkey", "not-a-key"), "--pubkey: public key: not a valid Ed25519 public key"),
    ],
)
def test_bad_arguments_exit_2(
    export: tuple[Path, Path, list[str]], args: tuple[str, ...], message: str
) -> None:
    lines_file, pub, _ = export
    result = stallbox("ledger", "verify", str(lines_file), "--pubkey", str(pub), *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_missing_file_cannot_be_read(tmp_path: Path) -> None:
    pub = public_key_text(KEY.public)
    result = stallbox("ledger", "verify", str(tmp_path / "nothing"), f"--pubkey={pub}")
    assert result.returncode == 2
    assert "cannot read (No such file or directory)" in result.stderr


def test_a_key_text_starting_with_a_dash_is_read_as_the_value() -> None:
    """`--pubkey -Abc…` names the key: argparse alone would read `-Abc…` as an unknown option."""
    from appliance.cli import _join_key_values

    assert _join_key_values(["ledger", "verify", "f", "--pubkey", "-Abc", "--head", "1:x"]) == [
        "ledger", "verify", "f", "--pubkey=-Abc", "--head", "1:x",
    ]  # fmt: skip
    assert _join_key_values(["ledger", "verify", "--pubkey"]) == ["ledger", "verify", "--pubkey"]


def test_verify_takes_a_dash_key_text_after_a_space(tmp_path: Path) -> None:
    """A real key whose text starts with "-" verifies with `--pubkey KEY` as docs/operations.md shows."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from appliance.ledger.identity import public_key_text as text

    key = next(
        k for k in iter(Ed25519PrivateKey.generate, None) if text(k.public_key()).startswith("-")
    )
    result = stallbox(
        "ledger", "verify", str(tmp_path / "nothing"), "--pubkey", text(key.public_key())
    )
    assert result.returncode == 2 and "cannot read" in result.stderr, result.stderr
