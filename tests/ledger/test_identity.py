"""The device key: created once with mode 0600, refused when garbled, never replaced."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from appliance.ledger.errors import KeyFileError
from appliance.ledger.identity import (
    KEY_FILE,
    create_key,
    fingerprint,
    load_key,
    parse_public_key,
    public_key_text,
)


def test_a_new_key_is_private_to_its_owner(tmp_path: Path) -> None:
    key = create_key(tmp_path)
    mode = stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode)
    assert mode == 0o600
    assert load_key(tmp_path).key_id == key.key_id
    assert len(key.key_id) == 10


def test_an_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    create_key(tmp_path)
    before = (tmp_path / KEY_FILE).read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        create_key(tmp_path)
    assert (tmp_path / KEY_FILE).read_bytes() == before


def test_a_garbled_key_is_an_error_naming_the_file(tmp_path: Path) -> None:
    create_key(tmp_path)
    path = tmp_path / KEY_FILE
    path.write_bytes(path.read_bytes()[:40] + b"garbage" + path.read_bytes()[47:])
    with pytest.raises(KeyFileError, match=f"{path}: garbled"):
        load_key(tmp_path)


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    create_key(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(KeyFileError, match="mode 0644"):
        load_key(tmp_path)


def test_a_missing_key_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="stallbox init"):
        load_key(tmp_path)


def test_public_key_text_round_trips_and_fingerprints_are_stable(tmp_path: Path) -> None:
    key = create_key(tmp_path)
    text = public_key_text(key.public)
    assert fingerprint(parse_public_key(text)) == fingerprint(key.public)
    assert fingerprint(key.public).startswith("SHA256:")
    with pytest.raises(KeyFileError, match="public key"):
        parse_public_key(text[:-2])
