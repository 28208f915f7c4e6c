"""The harness itself: fsynced data survives a cut, unsynced data and names do not."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lossymount import LossyMount, disk_names, skip_without_fuse


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[LossyMount]:
    skip_without_fuse()
    m = LossyMount.start(tmp_path / "disk", tmp_path / "mnt")
    try:
        yield m
    finally:
        m.unmount()


def write(path: Path, data: bytes, sync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def test_fsynced_data_and_names_survive_a_cut(mount: LossyMount) -> None:
    write(mount.path / "kept", b"durable", sync=True)
    sync_dir(mount.path)
    mount.cut()
    mount.unmount()
    assert (mount.backing / "kept").read_bytes() == b"durable"


def test_unsynced_data_is_lost(mount: LossyMount) -> None:
    write(mount.path / "f", b"old-bytes", sync=True)
    sync_dir(mount.path)
    with open(mount.path / "f", "r+b") as f:
        f.write(b"NEW")
        f.seek(0, 2)
        f.write(b"-appended")
    assert (mount.path / "f").read_bytes() == b"NEW-bytes-appended"  # visible before the cut
    mount.cut()
    mount.unmount()
    assert (mount.backing / "f").read_bytes() == b"old-bytes"


def test_a_create_without_a_directory_fsync_is_undone(mount: LossyMount) -> None:
    write(mount.path / "f", b"data", sync=True)  # the file is synced, its name is not
    mount.cut()
    mount.unmount()
    assert not (mount.backing / "f").exists()


def test_a_rename_not_followed_by_a_directory_fsync_is_undone(mount: LossyMount) -> None:
    write(mount.path / "key", b"old", sync=True)
    sync_dir(mount.path)
    write(mount.path / "key.tmp", b"new", sync=True)
    os.replace(mount.path / "key.tmp", mount.path / "key")
    mount.cut()
    mount.unmount()
    assert (mount.backing / "key").read_bytes() == b"old"
    assert disk_names(mount.backing) == ["key"]


def test_a_rename_followed_by_a_directory_fsync_survives(mount: LossyMount) -> None:
    (mount.path / "sub").mkdir()
    sync_dir(mount.path)
    write(mount.path / "sub" / "key", b"old", sync=True)
    sync_dir(mount.path / "sub")
    write(mount.path / "sub" / "key.tmp", b"new", sync=True)
    os.replace(mount.path / "sub" / "key.tmp", mount.path / "sub" / "key")
    sync_dir(mount.path / "sub")
    mount.cut()
    mount.unmount()
    assert (mount.backing / "sub" / "key").read_bytes() == b"new"
    assert disk_names(mount.backing / "sub") == ["key"]


def test_an_unlink_without_a_directory_fsync_is_undone(mount: LossyMount) -> None:
    write(mount.path / "f", b"data", sync=True)
    sync_dir(mount.path)
    os.unlink(mount.path / "f")
    mount.cut()
    mount.unmount()
    assert (mount.backing / "f").read_bytes() == b"data"


def test_a_torn_write_keeps_whole_sectors_only(tmp_path: Path) -> None:
    skip_without_fuse()
    kept: set[int] = set()
    for seed in range(6):
        m = LossyMount.start(tmp_path / f"disk{seed}", tmp_path / f"mnt{seed}", seed=seed)
        try:
            write(m.path / "f", b"", sync=True)
            sync_dir(m.path)
            write(m.path / "f", b"x" * 4096, sync=False)
            m.cut(tear=True)
        finally:
            m.unmount()
        size = len((m.backing / "f").read_bytes())
        assert size % 512 == 0
        kept.add(size)
    assert len(kept) > 1  # some cuts keep more sectors than others


def test_the_mount_answers_eio_after_a_cut(mount: LossyMount) -> None:
    mount.cut()
    with pytest.raises(OSError):
        os.listdir(mount.path)


def test_a_hard_link_without_a_directory_fsync_is_undone(mount: LossyMount) -> None:
    write(mount.path / "f", b"data", sync=True)
    sync_dir(mount.path)
    os.link(mount.path / "f", mount.path / "g")
    mount.cut()
    mount.unmount()
    assert disk_names(mount.backing) == ["f"]


def test_the_fsync_delay_models_a_slow_card(tmp_path: Path) -> None:
    skip_without_fuse()
    m = LossyMount.start(tmp_path / "disk", tmp_path / "mnt", fsync_delay_ms=20)
    try:
        fd = os.open(m.path / "f", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            started = time.monotonic()
            for _ in range(5):
                os.write(fd, b"x")
                os.fsync(fd)
            elapsed = time.monotonic() - started
        finally:
            os.close(fd)
    finally:
        m.unmount()
    assert elapsed >= 5 * 0.020


def test_an_armed_cut_fires_at_the_chosen_write_and_drops_it(mount: LossyMount) -> None:
    """`arm`: the cut comes right after the first write to the named file, which is lost."""
    write(mount.path / "db", b"committed", sync=True)
    sync_dir(mount.path)
    mount.arm("db-wal")
    write(mount.path / "other", b"x", sync=False)  # not the armed file: no cut
    assert not mount.is_cut
    with pytest.raises(OSError):
        write(mount.path / "db-wal", b"the write it cuts at", sync=True)
    assert mount.wait_cut(5)
    mount.unmount()
    assert (mount.backing / "db").read_bytes() == b"committed"
    assert not (mount.backing / "db-wal").exists() and not (mount.backing / "other").exists()
    assert {e["path"] for e in mount.lost} >= {"/db-wal", "/other"}


def test_the_cut_report_names_what_was_unsynced_and_who_wrote_it(mount: LossyMount) -> None:
    (mount.path / "state").mkdir()
    sync_dir(mount.path)
    write(mount.path / "state" / "stallbox.db-wal", b"frame", sync=False)
    write(mount.path / "state" / ".device.key.0123abcd.tmp", b"k", sync=True)
    mount.cut()
    mount.unmount()
    assert {"op": "data", "path": "/state/stallbox.db-wal", "pids": [os.getpid()]} in mount.lost
    assert mount.points() == {"init", "key"}  # the -wal was created unsynced: still init
    assert mount.points({os.getpid(): "sync"}) == {"acked-seq update", "key"}
