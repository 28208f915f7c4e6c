"""`stallbox sync`: run the daemon as a process (systemd unit, demo, tests).

It starts with no network at all (READY=1 as soon as the database is open), pings the watchdog
from its loop with the outbox depth as STATUS, and ends cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx

from appliance.config import Config
from appliance.discovery import Browser, Interfaces
from appliance.errors import ExitCode, StallboxError
from appliance.store import syncstate
from appliance.store.connection import DB_NAME, open_sync
from appliance.store.ledger import outbox
from appliance.store.migrations import migrate
from appliance.systemd import Notifier, keep_watchdog, watchdog_interval
from sync.account import CloudAccount, account_path, cloud_tls, load_account, save_account
from sync.backoff import Retry
from sync.daemon import Daemon, Limits, Outcome, status_line
from sync.link import LinkWatcher
from sync.relay import PEERS_ENV, Forwarder, Peers, explicit_peers

log = logging.getLogger(__name__)
ENROL_POLL_S = 5.0


def limits_from(config: Config) -> Limits:
    """The daemon's limits as the box's config sets them."""
    return Limits(
        upload_cap=config.sync_upload_cap, rush=timedelta(seconds=config.sync_rush_pause_s)
    )


async def _wait_for_account(state_dir: Path, stop: asyncio.Event) -> CloudAccount | None:
    """An installed box runs this unit before anyone enrols it: wait for cloud.json quietly."""
    while True:
        try:
            return load_account(state_dir)
        except StallboxError as exc:
            if not account_path(state_dir).exists():
                log.info("%s; waiting for it", exc)
            else:
                raise
        try:
            await asyncio.wait_for(stop.wait(), ENROL_POLL_S)
        except TimeoutError:
            continue
        return None


async def _run(
    state_dir: Path, limits: Limits, *, once: bool, interfaces: Interfaces = "loopback"
) -> int:
    db = state_dir / DB_NAME
    if not db.exists():
        raise StallboxError(f"{db}: no database (run `stallbox init`)")
    conn = open_sync(db)
    migrate(conn)
    notifier = Notifier()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    link = LinkWatcher()
    link.start()
    watchdog: asyncio.Task[None] | None = None
    notifier.ready(status_line(conn))
    if (interval := watchdog_interval()) is not None:
        watchdog = asyncio.create_task(keep_watchdog(notifier, interval, lambda: status_line(conn)))
    try:
        account = load_account(state_dir) if once else await _wait_for_account(state_dir, stop)
        if account is None:
            return ExitCode.OK
        async with httpx.AsyncClient(verify=cloud_tls(account.ca_file)) as client:
            keep = partial(save_account, state_dir)  # a new epoch of the cloud's log
            if once:
                daemon = Daemon(conn, account, client, limits, save_account=keep)
                print(f"stallbox sync: shipping {db} to {account.url}", flush=True)
                return await _drain(daemon)
            browser = _browser(interfaces)
            try:
                peers = Peers(client, account, urls=explicit_peers(), browser=browser)
                forwarder = Forwarder(conn, account, client)
                daemon = Daemon(
                    conn, account, client, limits, peers=peers, forwarder=forwarder,
                    save_account=keep,
                )  # fmt: skip
                print(f"stallbox sync: shipping {db} to {account.url}", flush=True)
                await daemon.run(stop, link.changed)
            finally:
                await peers.close()
                if browser is not None:
                    await browser.close()
    finally:
        if stop.is_set():
            notifier.stopping()
        if watchdog is not None:
            watchdog.cancel()
        link.close()
        conn.close()
    return ExitCode.OK


def _browser(interfaces: Interfaces) -> Browser | None:
    """Browse for peers with an uplink (relay); None where multicast cannot be used."""
    browser = Browser(interfaces)
    try:
        browser.start()
    except OSError as exc:
        log.warning("cannot browse for relay peers over mDNS (%s); $%s only", exc, PEERS_ENV)
        return None
    return browser


async def _drain(daemon: Daemon) -> int:
    """Send until nothing is left; OK only if the outbox is empty and the stream runs."""
    while True:
        try:
            outcome = await daemon.step()
        except Retry as exc:
            print(f"stallbox sync: {exc}", file=sys.stderr)
            return ExitCode.FAILED
        if outcome is not Outcome.SENT:
            break
    depth, _ = outbox(daemon.conn)
    state = syncstate.read_state(daemon.conn)
    if state.stopped:
        print(f"stallbox sync: stopped: {state.stopped}", file=sys.stderr)
        return ExitCode.FAILED
    minutes = await daemon.funnel.ship(force=True) if depth == 0 else 0
    print(f"stallbox sync: outbox {depth}, acked seq {state.acked_seq}, funnel minutes {minutes}")
    return ExitCode.OK if depth == 0 else ExitCode.FAILED


def resume(state_dir: Path) -> int:
    """Clear a stop after the operator dealt with its cause."""
    conn = open_sync(state_dir / DB_NAME)
    try:
        migrate(conn)
        state = syncstate.read_state(conn)
        if state.stopped is None:
            print("stallbox sync: the stream is running; nothing to resume")
        else:
            syncstate.clear_stop(conn, datetime.now(UTC))
            print(f"stallbox sync: resumed (was stopped: {state.stopped})")
    finally:
        conn.close()
    return ExitCode.OK


def run_sync(state_dir: Path, config: Config, *, once: bool = False) -> int:
    """Run the daemon until SIGTERM (or, with `once`, until the outbox is empty)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(_run(state_dir, limits_from(config), once=once, interfaces=config.discovery))
