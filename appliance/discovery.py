"""LAN discovery over mDNS: a node advertises `_stallbox._tcp.local.`, consoles browse for it.

The service's port is the attendee plane (plain HTTP); TXT carries the node id, the API version,
the key fingerprint (consoles pin it on first pairing; the operator plane's TLS proves it), the
operator plane's port ("op") and whether the box has an uplink (peers without one look for a
box that has). Which interfaces zeroconf binds comes from config: all of them on an installed
box, 127.0.0.1 in tests, CI and the default demo, so multicast never leaves a development
machine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import ifaddr
from zeroconf import InterfaceChoice, IPVersion, ServiceInfo, ServiceListener, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

SERVICE_TYPE = "_stallbox._tcp.local."
API_VERSION = "1"
ADDRESS_POLL_S = 10.0
RESOLVE_TIMEOUT_MS = 3000
RESOLVE_TRIES = 5

log = logging.getLogger(__name__)

Interfaces = Literal["all", "loopback"]


@dataclass(frozen=True, slots=True)
class NodeAd:
    """What a node announces about itself."""

    name: str  # instance name, e.g. the stall's name
    node_id: str
    port: int  # the attendee plane (plain HTTP)
    fingerprint: str
    uplink: bool = False
    operator_port: int = 0  # the operator plane (TLS pinned to `fingerprint`); TXT "op"


@dataclass(frozen=True, slots=True)
class FoundNode:
    """A node seen on the LAN."""

    name: str
    url: str
    node_id: str
    fingerprint: str
    api: str
    uplink: bool
    urls: tuple[str, ...] = ()  # every advertised address; `url` is the first
    operator_url: str = ""  # https://address:op of the first address ("" if not advertised)
    operator_urls: tuple[str, ...] = ()


def _zeroconf(interfaces: Interfaces) -> AsyncZeroconf:
    if interfaces == "loopback":
        return AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    return AsyncZeroconf(interfaces=InterfaceChoice.All, ip_version=IPVersion.V4Only)


def _addresses(interfaces: Interfaces) -> list[bytes]:
    if interfaces == "loopback":
        return [socket.inet_aton("127.0.0.1")]
    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if ip.is_IPv4 and isinstance(ip.ip, str) and not ip.ip.startswith("127."):
                found.append(socket.inet_aton(ip.ip))
    return sorted(set(found))


def _instance(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in " -_" else "-" for c in name).strip() or "stallbox"
    return cleaned[:63]


class Advertiser:
    """Registers the node's service, follows address changes, unregisters on close."""

    def __init__(self, ad: NodeAd, interfaces: Interfaces) -> None:
        self.ad = ad
        self.interfaces = interfaces
        self._zc: AsyncZeroconf | None = None
        self._info: ServiceInfo | None = None
        self._watch: asyncio.Task[None] | None = None

    def _service_info(self, addresses: list[bytes]) -> ServiceInfo:
        instance = _instance(self.ad.name)
        return ServiceInfo(
            SERVICE_TYPE,
            f"{instance}.{SERVICE_TYPE}",
            addresses=addresses,
            port=self.ad.port,
            properties={
                "id": self.ad.node_id,
                "api": API_VERSION,
                "fp": self.ad.fingerprint,
                "uplink": "yes" if self.ad.uplink else "no",
                "op": str(self.ad.operator_port),
            },
            server=f"stallbox-{self.ad.node_id}.local.",
        )

    async def start(self) -> None:
        """Register the service (renaming on a name conflict) and watch for address changes."""
        self._zc = _zeroconf(self.interfaces)
        self._info = self._service_info(_addresses(self.interfaces))
        await self._zc.async_register_service(self._info, allow_name_change=True)
        self._watch = asyncio.create_task(self._follow_addresses(), name="mdns-addresses")

    async def set_uplink(self, uplink: bool) -> None:
        """Say uplink=yes/no from now on (peers without an uplink look for a box that has one)."""
        self.ad = dataclasses.replace(self.ad, uplink=uplink)
        if self._zc is not None and self._info is not None:
            self._info = self._service_info(list(self._info.addresses))
            await self._zc.async_update_service(self._info)

    async def _follow_addresses(self) -> None:
        while True:
            await asyncio.sleep(ADDRESS_POLL_S)
            addresses = _addresses(self.interfaces)
            if (
                self._zc is not None
                and self._info is not None
                and addresses != sorted(self._info.addresses)
            ):
                log.info("addresses changed; updating the mDNS record")
                self._info = self._service_info(addresses)
                await self._zc.async_update_service(self._info)

    async def close(self) -> None:
        """Unregister (sends goodbye packets) and close zeroconf."""
        if self._watch is not None:
            self._watch.cancel()
        if self._zc is not None:
            await self._zc.async_unregister_all_services()
            await self._zc.async_close()
            self._zc = None


class _Collector(ServiceListener):
    """Names of the services heard; `heard` (if given) is told of each add or update at once."""

    def __init__(self, heard: Callable[[str], None] | None = None) -> None:
        self.names: set[str] = set()
        self.heard = heard

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.names.add(name)
        if self.heard is not None:
            self.heard(name)

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.add_service(zc, type_, name)

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.names.discard(name)


def _text(props: dict[bytes, bytes | None], key: str) -> str:
    value = props.get(key.encode())
    return value.decode("utf-8", "replace") if value else ""


async def _resolve_one(zc: AsyncZeroconf, name: str, timeout_ms: int) -> FoundNode | None:
    info = await zc.async_get_service_info(SERVICE_TYPE, name, timeout=timeout_ms)
    if info is None or not info.parsed_addresses() or info.port is None:
        return None
    props = info.properties
    urls = tuple(f"http://{address}:{info.port}" for address in info.parsed_addresses())
    op = _text(props, "op")
    operator_urls = (
        tuple(f"https://{address}:{op}" for address in info.parsed_addresses())
        if op.isdigit() and 0 < int(op) < 65536
        else ()
    )
    return FoundNode(
        name=name.removesuffix("." + SERVICE_TYPE),
        url=urls[0],
        node_id=_text(props, "id"),
        fingerprint=_text(props, "fp"),
        api=_text(props, "api"),
        uplink=_text(props, "uplink") == "yes",
        urls=urls,
        operator_url=operator_urls[0] if operator_urls else "",
        operator_urls=operator_urls,
    )


async def _resolve(zc: AsyncZeroconf, names: Sequence[str]) -> list[FoundNode]:
    """Resolve every name at once (a silent one costs its timeout once, not once per name)."""
    resolved = await asyncio.gather(*(_resolve_one(zc, name, 1000) for name in sorted(names)))
    return [node for node in resolved if node is not None]


async def browse(interfaces: Interfaces, timeout: float) -> Sequence[FoundNode]:
    """Listen for nodes for `timeout` seconds; return those that answered, by name."""
    zc = _zeroconf(interfaces)
    collector = _Collector()
    browser = AsyncServiceBrowser(zc.zeroconf, SERVICE_TYPE, listener=collector)
    try:
        await asyncio.sleep(timeout)
        return await _resolve(zc, list(collector.names))
    finally:
        await browser.async_cancel()
        await zc.async_close()


class Browser:
    """Keeps browsing until closed. `nodes()` returns what is on the LAN now (the sync daemon's
    way to find a peer with an uplink, whose TXT may change at any time); `on_found`, if given,
    hears each node as soon as its answer is resolved (the console's list grows as they come)."""

    def __init__(
        self, interfaces: Interfaces, on_found: Callable[[FoundNode], None] | None = None
    ) -> None:
        self.interfaces = interfaces
        self.on_found = on_found
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._collector = _Collector()
        self._resolving: dict[str, asyncio.Task[None]] = {}

    def start(self) -> None:
        """Start listening (call from the running event loop)."""
        if self.on_found is not None:
            loop = asyncio.get_running_loop()

            def heard(name: str) -> None:  # zeroconf may call from its own thread
                loop.call_soon_threadsafe(self._heard, name)

            self._collector.heard = heard
        self._zc = _zeroconf(self.interfaces)
        self._browser = AsyncServiceBrowser(
            self._zc.zeroconf, SERVICE_TYPE, listener=self._collector
        )

    def _heard(self, name: str) -> None:
        """A node announced itself (or changed): resolve it now, each name on its own."""
        running = self._resolving.get(name)
        if self._zc is None or (running is not None and not running.done()):
            return
        self._resolving[name] = asyncio.create_task(self._announce(self._zc, name))

    async def _announce(self, zc: AsyncZeroconf, name: str) -> None:
        for _ in range(RESOLVE_TRIES):  # a loaded box may answer late: ask again, bounded
            node = await _resolve_one(zc, name, RESOLVE_TIMEOUT_MS)
            if node is not None:
                if self.on_found is not None:
                    self.on_found(node)
                return

    async def nodes(self) -> Sequence[FoundNode]:
        """Return the nodes seen so far, with their current TXT."""
        if self._zc is None:
            return []
        return await _resolve(self._zc, list(self._collector.names))

    async def close(self) -> None:
        """Stop browsing and close zeroconf."""
        for task in self._resolving.values():
            task.cancel()
        await asyncio.gather(*self._resolving.values(), return_exceptions=True)
        self._resolving.clear()
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        if self._zc is not None:
            await self._zc.async_close()
            self._zc = None
