"""`stallbox sync`: run the daemon as a process (systemd unit, demo, tests).

It starts with no network at all (READY=1 as soon as the database is open), pings the watchdog
from its loop with the outbox depth as STATUS, and ends cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx

from appliance.config import Config
from appliance.discovery import Browser, Interfaces
from appliance.errors import ExitCode, StallboxError
from appliance.passes.settings import PassSettings
from appliance.services.cloud_account import (
    CloudAccount,
    account_path,
    cloud_tls,
    load_account,
    save_account,
)
from appliance.store import syncstate
from appliance.store.connection import DB_NAME, open_sync
from appliance.store.ledger import outbox
from appliance.store.migrations import migrate
from appliance.systemd import Notifier, keep_watchdog, watchdog_interval
from sync.backoff import Retry
from sync.daemon import Daemon, Limits, Outcome, status_line
from sync.link import LinkWatcher
from sync.pass_trust import PassTrust
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
    state_dir: Path,
    limits: Limits,
    *,
    once: bool,
    interfaces: Interfaces = "loopback",
    passes: PassSettings | None = None,
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
        if once:
            async with httpx.AsyncClient(verify=cloud_tls(account.ca_file)) as client:
                daemon = Daemon(
                    conn, account, client, limits, save_account=partial(save_account, state_dir),
                    pass_trust=_pass_trust(state_dir, passes, client, account),
                )  # fmt: skip
                print(f"stallbox sync: shipping {db} to {account.url}", flush=True)
                return await _drain(daemon)
        while account is not None and not stop.is_set():
            await _serve(state_dir, conn, account, limits, interfaces, stop, link, passes)
            account = None if stop.is_set() else _renewed(state_dir, conn)
    finally:
        if stop.is_set():
            notifier.stopping()
        if watchdog is not None:
            watchdog.cancel()
        link.close()
        conn.close()
    return ExitCode.OK


async def _serve(
    state_dir: Path,
    conn: sqlite3.Connection,
    account: CloudAccount,
    limits: Limits,
    interfaces: Interfaces,
    stop: asyncio.Event,
    link: LinkWatcher,
    passes: PassSettings | None = None,
) -> None:
    """Ship to `account` until `stop`, or until cloud.json holds another account (re-enrolled)."""
    ended = asyncio.Event()  # stop, or a new account: this daemon's run is over
    follow = asyncio.create_task(_follow_account(state_dir, account, stop, ended))
    async with httpx.AsyncClient(verify=cloud_tls(account.ca_file)) as client:
        browser = _browser(interfaces)
        try:
            peers = Peers(client, account, urls=explicit_peers(), browser=browser)
            forwarder = Forwarder(conn, account, client)
            daemon = Daemon(
                conn, account, client, limits, peers=peers, forwarder=forwarder,
                save_account=partial(save_account, state_dir),
                pass_trust=_pass_trust(state_dir, passes, client, account),
            )  # fmt: skip
            print(f"stallbox sync: shipping {state_dir / DB_NAME} to {account.url}", flush=True)
            await daemon.run(ended, link.changed)
        finally:
            follow.cancel()
            await peers.close()
            if browser is not None:
                await browser.close()


async def _follow_account(
    state_dir: Path, account: CloudAccount, stop: asyncio.Event, ended: asyncio.Event
) -> None:
    """Set `ended` on stop, or once cloud.json holds a valid account other than `account`.

    `stallbox enrol` replaces the file (a new inode): a stat every ENROL_POLL_S notices it, so
    a daemon that stopped on a refused token picks the new one up without a restart.
    """
    path = account_path(state_dir)
    seen = _stat_key(path)
    while True:
        try:
            await asyncio.wait_for(stop.wait(), ENROL_POLL_S)
        except TimeoutError:
            now = _stat_key(path)
            if now == seen:
                continue
            seen = now
            try:
                fresh = load_account(state_dir)
            except StallboxError as exc:
                log.warning("cloud.json changed but cannot be used (%s); keeping the old one", exc)
                continue
            if fresh == account:
                continue
            log.info("cloud.json changed: now shipping to %s as %s", fresh.url, fresh.device)
        ended.set()
        return


def _pass_trust(
    state_dir: Path, passes: PassSettings | None, client: httpx.AsyncClient, account: CloudAccount
) -> PassTrust | None:
    """The pass-trust round for the creators of [passes] (None when the box trusts none)."""
    return None if passes is None else PassTrust(state_dir, passes.creators, client, account)


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


# sync/daemon.py's stops that re-enrolling cures: a 401/403, or the cloud's 409 "revoked"
ENROL_CURES = ("refused our token", "(revoked:")


def _renewed(state_dir: Path, conn: sqlite3.Connection) -> CloudAccount:
    """The new account after a re-enrolment; a stop on the old token is cleared with it."""
    state = syncstate.read_state(conn)
    if state.stopped is not None and any(cure in state.stopped for cure in ENROL_CURES):
        syncstate.clear_stop(conn, datetime.now(UTC))
        log.info("sync resumes: the box was enrolled again (was stopped: %s)", state.stopped)
    return load_account(state_dir)


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
    if depth == 0:
        await daemon.flags.step(force=True)  # the event's flag bundle down, decisions up
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
    limits = limits_from(config)
    run = _run(state_dir, limits, once=once, interfaces=config.discovery, passes=config.passes)
    return asyncio.run(run)
