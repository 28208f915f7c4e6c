"""One TOML file → one frozen, validated config, built once in main() and passed down.

Every problem is reported as `FILE: dotted.key: what is wrong`, and unknown keys are refused
(a typo must not silently fall back to a default). Amounts are written in major units as strings
("18.50") and become integer minor units here.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from appliance.domain.catalog import NAME_MAX, SKU, Item
from appliance.domain.drops import MAX_HOLD
from appliance.domain.errors import DomainError
from appliance.domain.money import Money, exponent
from appliance.domain.orders import TOTAL_MAX
from appliance.domain.policy import Limits
from appliance.errors import ConfigError, config_field_error
from appliance.flags.settings import FlagSettings, parse_flags
from appliance.passes.settings import PassSettings, parse_passes
from appliance.payments.config import RailConfig, parse_rails
from appliance.payments.reference import prefix_problem
from appliance.printing.spec import check_spec
from appliance.providers.settings import ProviderSettings, parse_provider

CONFIG_NAME = "stallbox.toml"
MAX_HOLD_S = int(MAX_HOLD.total_seconds())


# Raw shapes: exactly what the TOML may contain. Validated further into the frozen types below.
class RawStall(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    name: str | None = None  # required by the node (see require_for_node), not by `qr` or `sync`
    currency: str | None = None  # likewise; "BRL" for the commands that need no stall
    locale: str = "pt-BR"
    timezone: str = ""  # IANA name for times on the attendee pages; "" for the box's own zone
    reference_prefix: str = (
        ""  # 0-2 symbols before every payment reference: one per box sharing an account
    )


class RawNode(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    host: str = "0.0.0.0"  # noqa: S104 - the node serves attendees on the venue LAN
    port: int = 8080  # attendee plane, plain HTTP
    operator_port: int = 8443  # operator plane, TLS 1.3 pinned to the device key
    operator_socket: str = (
        ""  # the on-box console's Unix socket; "" for the default, "off" for none
    )
    operator_group: str = ""  # members may pair over that socket too (it is then mode 0660)


class RawDiscovery(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    interfaces: Literal["all", "loopback"] = "all"


class RawSync(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    max_upload_bytes_per_s: int = 0  # 0: no cap
    pause_during_drops: bool = True
    drop_rush_s: int = 120


class RawStorage(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    warn_free_mb: int = 64  # below this free on the state dir's disk: a warning and a console alarm


class RawPrinter(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    device: str = ""  # "" = no printer; usb:VVVV:PPPP, serial:/dev/X[:BAUD], network:HOST[:PORT]
    width_mm: int = 58
    cut: bool = True
    drawer: bool = True
    profile: str = ""  # a python-escpos profile name; "" = by width (POS-5890, TM-T20II)


class RawDrops(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    hold_s: int = 120
    max_hold_s: int = 600


class RawRailPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    per_sale_limit: str | None = None
    exposure_limit: str | None = None


class RawPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    order_hold_s: int = 900
    rails: dict[str, dict[str, Any]] = {}  # each a RawRailPolicy, converted with its key


class RawItem(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    sku: str
    name: str
    price: str
    stock: int | None = None


class RawConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    stall: RawStall = RawStall()
    node: RawNode = RawNode()
    discovery: RawDiscovery = RawDiscovery()
    sync: RawSync = RawSync()
    policy: RawPolicy = RawPolicy()
    storage: RawStorage = RawStorage()
    drops: RawDrops = RawDrops()
    printer: RawPrinter = RawPrinter()
    catalog: list[RawItem] = []
    rails: dict[str, dict[str, Any]] = {}
    provider: dict[str, Any] | None = None  # providers/settings.py checks it
    passes: dict[str, Any] | None = None  # passes/settings.py checks it
    flags: dict[str, Any] | None = None  # flags/settings.py checks it


@dataclass(frozen=True, slots=True)
class Config:
    """The validated configuration of one box."""

    path: Path | None
    stall_name: str = "My Stall"
    currency: str = "BRL"
    locale: str = "pt-BR"
    timezone: str = ""  # IANA zone of the stall ("" = the box's own)
    reference_prefix: str = ""  # before every payment reference (appliance/payments/reference.py)
    host: str = "0.0.0.0"  # noqa: S104
    port: int = 8080
    operator_port: int = 8443
    discovery: Literal["all", "loopback"] = "all"
    order_hold_s: int = 900
    rail_limits: Mapping[str, Limits] = field(default_factory=dict)
    catalog: tuple[Item, ...] = ()
    rails: Mapping[str, RailConfig] = field(default_factory=dict)
    sync_upload_cap: int = 0  # bytes/s the sync daemon may send; 0 for no cap
    sync_rush_pause_s: int = 120  # pause uploads this long after a drop starts; 0 never pauses
    storage_warn_free_mb: int = 64  # warn (log, console alarm) below this much free space
    drop_hold_s: int = 120  # a drop's hold when the operator names none
    drop_max_hold_s: int = 600  # the longest hold an operator may ask for
    unset: tuple[str, ...] = ()  # keys the node requires that the file leaves out
    operator_socket: str = ""  # "" = $RUNTIME_DIRECTORY or the state dir; "off" = no socket
    operator_group: str = ""  # group whose members may pair over the socket ("" = none)
    provider: ProviderSettings | None = None  # the payment provider the node asks ([provider])
    printer_device: str = ""  # [printer]: where the receipt printer is ("" = none)
    printer_width_mm: int = 58
    printer_cut: bool = True
    printer_drawer: bool = True
    printer_profile: str = ""
    passes: PassSettings | None = None  # [passes]: creators trusted and their documents
    flags: FlagSettings = field(default_factory=FlagSettings)  # [flags]: trusted bundle keys


NODE_REQUIRES = {
    "stall.name": "the node needs the stall's name (attendees see it; consoles list it)",
    "stall.currency": "the node needs the stall's currency (every receipt is signed in it)",
}


def require_for_node(config: Config) -> Config:
    """The config if a node can sell with it; else ConfigError naming the first missing key."""
    if config.unset:
        key = config.unset[0]
        raise ConfigError(config.path or CONFIG_NAME, key, f"missing: {NODE_REQUIRES[key]}")
    if not config.catalog:
        raise ConfigError(
            config.path or CONFIG_NAME, "catalog",
            "no items: the node needs at least one [[catalog]] item to sell (and to drop)",
        )  # fmt: skip
    return config


def parse_config(text: str, path: Path | str = CONFIG_NAME) -> Config:
    """Parse and validate config text; raise ConfigError naming the key on any problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"not valid TOML: {exc}") from None
    try:
        raw = msgspec.convert(data, type=RawConfig)
    except msgspec.ValidationError as exc:
        raise config_field_error(path, str(exc)) from None
    return _validate(raw, Path(path))


def sample_config(currency: str = "BRL") -> str:
    """Return the commented sample config `stallbox init` writes, in the stall's currency."""
    text = resources.files("appliance").joinpath("sample-config.toml").read_text("utf-8")

    def reprice(match: re.Match[str]) -> str:  # the sample's prices, in the currency's decimals
        whole = Money.parse(match[1], "BRL").minor // 100
        return f'price = "{Money(whole * 10 ** exponent(currency), currency).decimal()}"'

    text = re.sub(r'^price = "([0-9.]+)"', reprice, text, flags=re.M)
    return text.replace('currency = "BRL"', f'currency = "{currency}"', 1)


def load_config(path: Path) -> Config:
    """Read and validate the config file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found (run `stallbox init`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "", f"cannot read: {exc}") from None
    return parse_config(text, path)


def _money(path: Path, key: str, text: str, currency: str) -> Money:
    try:
        amount = Money.parse(text, currency)
    except DomainError as exc:
        raise ConfigError(path, key, str(exc)) from None
    if amount.minor < 0:
        raise ConfigError(path, key, f"{text!r} is negative")
    if amount.minor > TOTAL_MAX:
        raise ConfigError(path, key, f"{text!r} is over {Money(TOTAL_MAX, currency).decimal()}")
    return amount


def _zone(path: Path, name: str) -> str:
    """The stall's time zone name, checked against the zone database ("" is the box's own)."""
    if name:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                path, "stall.timezone", f"{name!r} is not an IANA time zone"
            ) from None
    return name


def _check_policy_rails(
    path: Path, limits: Mapping[str, Limits], rails: Mapping[str, RailConfig]
) -> None:
    """A [policy.rails.NAME] must name cash or a configured rail: a limit on no rail is a typo."""
    known = ["cash", *(name for name in rails if name != "cash")]
    for name in limits:
        if name not in known:
            hint = next((k for k in known if k.lower() == name.lower()), None)
            near = f" (did you mean {hint!r}?)" if hint else ""
            raise ConfigError(
                path, f"policy.rails.{name}",
                f"no tender named {name!r}{near}: limits apply to cash or a [rails] name "
                f"({', '.join(known)}); names are case-sensitive",
            )  # fmt: skip


def _validate(raw: RawConfig, path: Path) -> Config:
    currency = raw.stall.currency or "BRL"
    try:
        exponent(currency)
    except DomainError as exc:
        raise ConfigError(path, "stall.currency", str(exc)) from None
    if raw.stall.name is not None and not raw.stall.name.strip():
        raise ConfigError(path, "stall.name", "must not be empty")
    if problem := prefix_problem(raw.stall.reference_prefix):
        raise ConfigError(path, "stall.reference_prefix", problem)
    unset = tuple(
        key for key, value in (("stall.name", raw.stall.name), ("stall.currency", raw.stall.currency))
        if value is None
    )  # fmt: skip
    if not 1 <= raw.drops.max_hold_s <= MAX_HOLD_S:
        raise ConfigError(path, "drops.max_hold_s", f"must be 1-{MAX_HOLD_S} seconds")
    if not 1 <= raw.drops.hold_s <= raw.drops.max_hold_s:
        raise ConfigError(
            path, "drops.hold_s", f"must be 1-{raw.drops.max_hold_s} seconds (drops.max_hold_s)"
        )
    if not 0 <= raw.node.port <= 65535:
        raise ConfigError(path, "node.port", f"{raw.node.port} is not a TCP port (0-65535)")
    if not 0 <= raw.node.operator_port <= 65535:
        raise ConfigError(
            path, "node.operator_port", f"{raw.node.operator_port} is not a TCP port (0-65535)"
        )
    if raw.node.operator_port == raw.node.port != 0:
        raise ConfigError(
            path, "node.operator_port", f"{raw.node.port} is node.port already; use another"
        )
    sock = raw.node.operator_socket
    if sock and sock != "off" and not sock.startswith("/"):
        raise ConfigError(
            path, "node.operator_socket", f'{sock!r}: give an absolute path, or "off"'
        )
    if raw.sync.max_upload_bytes_per_s < 0:
        raise ConfigError(path, "sync.max_upload_bytes_per_s", "must be 0 (no cap) or more")
    if raw.sync.drop_rush_s < 0:
        raise ConfigError(path, "sync.drop_rush_s", "must be 0 or more seconds")
    if raw.storage.warn_free_mb < 0:
        raise ConfigError(path, "storage.warn_free_mb", "must be 0 (never warn) or more MiB")
    if raw.printer.width_mm not in (58, 80):
        raise ConfigError(path, "printer.width_mm", f"{raw.printer.width_mm}: 58 or 80")
    check_spec(raw.printer.device, path)
    if raw.policy.order_hold_s <= 0:
        raise ConfigError(path, "policy.order_hold_s", "must be a positive number of seconds")

    limits: dict[str, Limits] = {}
    for rail, table in raw.policy.rails.items():
        key = f"policy.rails.{rail}"
        try:
            raw_limits = msgspec.convert(table, type=RawRailPolicy)
        except msgspec.ValidationError as exc:
            raise config_field_error(path, str(exc), key) from None
        per_sale = raw_limits.per_sale_limit
        exposure = raw_limits.exposure_limit
        limits[rail] = Limits(
            per_sale=None
            if per_sale is None
            else _money(path, f"{key}.per_sale_limit", per_sale, currency),
            exposure=None
            if exposure is None
            else _money(path, f"{key}.exposure_limit", exposure, currency),
        )

    catalog: list[Item] = []
    seen: set[str] = set()
    for i, item in enumerate(raw.catalog):
        key = f"catalog[{i}]"
        if not SKU.fullmatch(item.sku):
            raise ConfigError(path, f"{key}.sku", f"{item.sku!r}: use 1-32 of a-z 0-9 _ -")
        if item.sku in seen:
            raise ConfigError(path, f"{key}.sku", f"{item.sku!r} is listed twice")
        seen.add(item.sku)
        if not item.name.strip() or len(item.name.strip()) > NAME_MAX:
            raise ConfigError(path, f"{key}.name", f"must be 1-{NAME_MAX} characters")
        if item.stock is not None and item.stock < 0:
            raise ConfigError(path, f"{key}.stock", "must be 0 or more (omit it for unlimited)")
        price = _money(path, f"{key}.price", item.price, currency)
        catalog.append(Item(item.sku, item.name.strip(), price, item.stock))

    rails = parse_rails(
        raw.rails, currency, path
    )  # every rail checked at load, errors name the key
    _check_policy_rails(path, limits, rails)
    return Config(
        path=path,
        stall_name=(raw.stall.name or "My Stall").strip(),
        currency=currency,
        locale=raw.stall.locale,
        timezone=_zone(path, raw.stall.timezone),
        reference_prefix=raw.stall.reference_prefix,
        host=raw.node.host,
        port=raw.node.port,
        operator_port=raw.node.operator_port,
        discovery=raw.discovery.interfaces,
        order_hold_s=raw.policy.order_hold_s,
        rail_limits=limits,
        catalog=tuple(catalog),
        rails=rails,
        sync_upload_cap=raw.sync.max_upload_bytes_per_s,
        sync_rush_pause_s=raw.sync.drop_rush_s if raw.sync.pause_during_drops else 0,
        storage_warn_free_mb=raw.storage.warn_free_mb,
        drop_hold_s=raw.drops.hold_s,
        drop_max_hold_s=raw.drops.max_hold_s,
        unset=unset,
        operator_socket=sock,
        operator_group=raw.node.operator_group,
        provider=parse_provider(raw.provider, rails, path),
        printer_device=raw.printer.device,
        printer_width_mm=raw.printer.width_mm,
        printer_cut=raw.printer.cut,
        printer_drawer=raw.printer.drawer,
        printer_profile=raw.printer.profile,
        passes=parse_passes(raw.passes, path, currency, {item.sku for item in catalog}),
        flags=parse_flags(raw.flags, path),
    )
