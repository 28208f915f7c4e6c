"""The box's side of a cloud rollback: move to the log's new epoch and send again what it lost.

A cloud restored from a backup has forgotten receipts it acknowledged; the box still holds
them, and a checkpoint the cloud signed then. Shown that checkpoint (`POST /v1/log/checkpoints`),
the cloud sees it no longer holds it, freezes that epoch of its log and begins the next, under
the origin `<first origin>/e<N>` (sync/cloud/rollback.py). The box trusts the new epoch only as
the same log key under that derived name — the verifier key is rebuilt here from the key it
enrolled with, never taken from the answer — then sends again from the cloud's head and checks
every proof in the new epoch. The incident is kept in `sync_state.incident` for the console.
"""

from __future__ import annotations

import logging

import httpx
import msgspec

from appliance.ledger.wire import Head, LogStatus, epoch_origin
from appliance.services.cloud_account import CloudAccount
from sync.checkpoint import parse_verifier_key, verifier_key

log = logging.getLogger(__name__)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


async def ask(client: httpx.AsyncClient, account: CloudAccount, note: str | None) -> LogStatus:
    """Show the cloud our last checkpoint (if any); return its log's epochs.

    httpx.HTTPError or msgspec errors for an answer that is no LogStatus (the caller retries or
    stops as for any other failure).
    """
    base = account.url.rstrip("/")
    if note:
        response = await client.post(
            f"{base}/v1/log/checkpoints", content=note.encode("utf-8"), timeout=TIMEOUT
        )
    else:
        response = await client.get(f"{base}/v1/log/epochs", timeout=TIMEOUT)
    response.raise_for_status()
    return msgspec.json.decode(response.content, type=LogStatus)


def adopt(account: CloudAccount, status: LogStatus) -> CloudAccount | None:
    """Return the account for the cloud's newer epoch, or None if there is none to trust."""
    if status.epoch <= account.epoch:
        return None
    base = account.origin
    if account.epoch > 1:
        base = base.removesuffix(f"/e{account.epoch}")
    origin = epoch_origin(base, status.epoch)
    if status.origin != origin:
        log.warning("the cloud names epoch %d %r, not %r", status.epoch, status.origin, origin)
        return None
    trusted = parse_verifier_key(account.verifier_key).public_key
    return msgspec.structs.replace(
        account, origin=origin, verifier_key=verifier_key(origin, trusted), epoch=status.epoch
    )


async def recover(
    client: httpx.AsyncClient, account: CloudAccount, note: str | None, cloud_seq: int | None
) -> tuple[CloudAccount, int, str] | None:
    """Ask about the epoch; return (the new epoch's account, the cloud's head, the incident).

    None if the log has no newer epoch to trust or the cloud did not answer (the caller stops
    or retries as it would have). `cloud_seq` is the device's head if already known.
    """
    try:
        status = await ask(client, account, note)
        newer = adopt(account, status)
        if newer is None:
            return None
        if cloud_seq is None:
            url = f"{account.url.rstrip('/')}/v1/devices/{account.device}/head"
            answer = await client.get(
                url, headers={"Authorization": f"Bearer {account.api_token}"}, timeout=TIMEOUT
            )
            answer.raise_for_status()
            cloud_seq = msgspec.json.decode(answer.content, type=Head).seq
    except (httpx.HTTPError, msgspec.MsgspecError) as exc:
        log.warning("asking the cloud about its log's epoch: %s", exc)
        return None
    text = incident(status)
    log.error("%s; sending again from seq %d", text, cloud_seq + 1)
    return newer, cloud_seq, text


def incident(status: LogStatus) -> str:
    """Return the one line the console shows about the epoch the box moved to."""
    began = status.epochs[-1]
    return (
        f"the cloud's log was rolled back (restored from a backup?): {began.reason}; "
        f"epoch {began.epoch} ({began.origin}) began {began.started_at}; "
        "what it lost is being sent again"
    )
