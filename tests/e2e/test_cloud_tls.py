"""The box-to-cloud link (issue 11): HTTPS with certificate verification, plain HTTP on loopback only.

Real processes: `stallbox cloud serve --tls-cert --tls-key` with a throwaway CA (testca.py),
`stallbox enrol` and `stallbox sync --once`. A cloud whose certificate does not verify gets
nothing (no receipt, no token use), and a plain-http:// URL to another machine is refused with
an error naming it, at enrolment and in an edited cloud.json.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from nodeproc import run_cli
from syncproc import Proc, cloud_head, enrol, make_sales, start_cloud
from testca import ThrowawayCA, make_ca

from appliance.services.cloud_account import load_account, save_account

REMOTE_HTTP = "http://192.0.2.10:8470"  # TEST-NET-1 (RFC 5737): never reached, refused first


@pytest.fixture
def tls_cloud(tmp_path: Path) -> Iterator[tuple[Proc, ThrowawayCA]]:
    ca = make_ca(tmp_path / "tls")
    cloud = start_cloud(tmp_path / "cloud", 0, *ca.serve_args())
    yield cloud, ca
    cloud.stop()


def test_a_plain_http_cloud_on_another_machine_is_refused(tmp_path: Path) -> None:
    box = tmp_path / "box"
    make_sales(box, 3)
    done = run_cli("enrol", REMOTE_HTTP, "sometoken", "--state", str(box))
    assert done.returncode == 2, done.stderr
    assert REMOTE_HTTP in done.stderr and "plain HTTP" in done.stderr

    cloud = start_cloud(tmp_path / "cloud")  # loopback http: the demo's case, allowed
    try:
        assert cloud.url.startswith("http://127.0.0.1:")
        enrol(box, tmp_path / "cloud", cloud.url)
        assert run_cli("sync", "--once", "--state", str(box)).returncode == 0
    finally:
        cloud.stop()
    account = load_account(box)
    save_account(box, msgspec.structs.replace(account, url=REMOTE_HTTP))  # an edited cloud.json
    refused = run_cli("sync", "--once", "--state", str(box))
    assert refused.returncode != 0
    assert "cloud.json: url:" in refused.stderr and REMOTE_HTTP in refused.stderr


def test_a_cloud_whose_certificate_does_not_verify_gets_nothing(
    tmp_path: Path, tls_cloud: tuple[Proc, ThrowawayCA]
) -> None:
    cloud, ca = tls_cloud
    assert cloud.url.startswith("https://127.0.0.1:")
    box = tmp_path / "box"
    head = make_sales(box, 5)
    other = make_ca(tmp_path / "other-ca")  # a CA that did not sign the cloud's certificate
    token = run_cli("cloud", "enrol-token", "--state", str(tmp_path / "cloud")).stdout.split()[-1]
    for trust in (("--ca-file", str(other.ca_file)), ()):  # wrong private CA; system CAs
        done = run_cli("enrol", cloud.url, token, "--state", str(box), *trust)
        assert done.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in done.stderr, done.stderr
    assert not (box / "cloud.json").exists()

    enrol(box, tmp_path / "cloud", cloud.url, ca_file=ca.ca_file)
    account = load_account(box)
    save_account(box, msgspec.structs.replace(account, ca_file=str(other.ca_file)))
    refused = run_cli("sync", "--once", "--state", str(box))
    assert refused.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr
    save_account(box, account)  # the right CA again: the same box ships everything
    assert cloud_head(box).seq < head  # nothing arrived over the link that did not verify
    shipped = run_cli("sync", "--once", "--state", str(box))
    assert shipped.returncode == 0, shipped.stderr
    assert cloud_head(box).seq == head
