"""One identity per log across processes (issue 22), with real `stallbox cloud` processes.

The log key and origin live with the data: a second process with another key on the same
PostgreSQL database refuses to start, naming the key; the default origin comes from the log
key, so two clouds on one host differ; a state dir remembers its backend, so forgetting
`--postgres` is an error and not a new, empty SQLite log.
"""

from __future__ import annotations

from pathlib import Path

import cloudfix  # noqa: F401 - puts tests/e2e (nodeproc, pgserver, syncproc) on sys.path
import httpx
from nodeproc import run_cli
from pgserver import new_database, pg_server
from syncproc import spawn, start_cloud

__all__ = ["pg_server"]  # a fixture, used by name


def test_a_second_key_on_one_database_refuses_to_start_naming_the_key(
    tmp_path: Path, pg_server: str
) -> None:
    dsn = new_database(pg_server)
    first = start_cloud(tmp_path / "a", 0, "--postgres", dsn)
    try:
        log = httpx.get(first.url + "/v1/log", timeout=10).json()
        second = spawn(
            "cloud", "serve", "--state", str(tmp_path / "b"), "--port", "0", "--postgres", dsn
        )
        assert second.process.wait(30) != 0, second.text()
        said = second.text()
        assert "log.key" in said and log["verifier_key"] in said, said
        assert "listening" not in said and len(said.strip().splitlines()) == 1, said
        # the same state dir (the same key) on the same database starts as before
        third = start_cloud(tmp_path / "a", 0, "--postgres", dsn)
        assert httpx.get(third.url + "/v1/log", timeout=10).json() == log
        assert third.stop() == 0
    finally:
        first.stop()


def test_two_clouds_on_one_host_get_different_origins(tmp_path: Path) -> None:
    clouds = [start_cloud(tmp_path / name) for name in ("a", "b")]
    try:
        origins = [httpx.get(c.url + "/v1/log", timeout=10).json()["origin"] for c in clouds]
    finally:
        for cloud in clouds:
            cloud.stop()
    assert origins[0] != origins[1], origins
    for origin, name in zip(origins, ("a", "b"), strict=True):
        assert origin.startswith("stallbox.cloud/") and len(origin) == len("stallbox.cloud/") + 16
        assert (tmp_path / name / "origin").read_text().strip() == origin  # fixed from now on


def test_a_state_dir_remembers_its_backend(tmp_path: Path, pg_server: str) -> None:
    dsn = new_database(pg_server)
    pg_state, lite_state = tmp_path / "pg", tmp_path / "lite"
    made = run_cli("cloud", "enrol-token", "--state", str(pg_state), "--postgres", dsn)
    assert made.returncode == 0, made.stderr
    forgot = run_cli("cloud", "devices", "--state", str(pg_state))
    assert forgot.returncode != 0 and forgot.stderr.startswith("stallbox: --postgres:"), forgot
    assert "PostgreSQL" in forgot.stderr and not (pg_state / "cloud.db").exists()
    serve = spawn("cloud", "serve", "--state", str(pg_state), "--port", "0")
    assert serve.process.wait(30) != 0 and "--postgres" in serve.text(), serve.text()
    assert not (pg_state / "cloud.db").exists()

    assert run_cli("cloud", "enrol-token", "--state", str(lite_state)).returncode == 0
    switched = run_cli("cloud", "devices", "--state", str(lite_state), "--postgres", dsn)
    assert switched.returncode != 0 and "SQLite" in switched.stderr, switched
    again = run_cli("cloud", "devices", "--state", str(pg_state), "--postgres", dsn)
    assert again.returncode == 0, again.stderr
