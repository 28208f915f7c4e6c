"""A real PostgreSQL server for tests: the cloud's store tests and the sync fault run use it.

$STALLBOX_TEST_PG_DSN if set, else a private throwaway cluster (initdb + pg_ctl from
/usr/lib/postgresql/*/bin, unix socket only, run as `postgres` when we are root), stopped at
the end of the session. Missing binaries skip the PostgreSQL half locally but fail under CI=true
(.ci/run installs the `postgresql` package).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_db_names = itertools.count()


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class NoPostgres(Exception):
    """The PostgreSQL server binaries are not installed."""


@contextlib.contextmanager
def temporary_server(*, fsync: bool = False) -> Iterator[str]:
    """Run a private cluster on a unix socket; yield its DSN (without dbname); stop it after."""
    bindir = _pg_bin()
    if bindir is None:
        raise NoPostgres("PostgreSQL is not installed (Debian package postgresql)")
    root = Path(tempfile.mkdtemp(prefix="stallbox-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    root.chmod(0o700)
    subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                      "--no-sync", "-E", "UTF8"]),
        check=True, capture_output=True,
    )  # fmt: skip
    options = f"-c listen_addresses='' -c unix_socket_directories={root} -p 5432"
    options += "" if fsync else " -c fsync=off"
    subprocess.run(
        _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "60",
                      "-l", str(root / "log"), "start"]),
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"host={root} port=5432 user=postgres"
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A DSN (without dbname) of a PostgreSQL server the tests may create databases on."""
    if dsn := os.environ.get("STALLBOX_TEST_PG_DSN"):
        yield dsn
        return
    try:
        with temporary_server() as dsn:
            yield dsn
    except NoPostgres as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc}: under CI .ci/apt-packages must install it")
        pytest.skip(str(exc))


def new_database(server: str) -> str:
    """Create a fresh database on `server`; return its DSN."""
    import psycopg

    name = f"stallbox_t{os.getpid()}_{next(_db_names)}"
    with psycopg.connect(server + " dbname=postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server} dbname={name}"
