"""docs/configuration.md against appliance/config.py: every key documented, none invented.

The reference is what an operator reads before editing stallbox.toml; a key missing from it is
a setting nobody finds, a documented key the code lacks is an error at load ("unknown key"),
and a wrong default is a box that behaves otherwise than its operator expects.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import msgspec
import pytest

from appliance import config
from appliance.flags.settings import RawFlags
from appliance.passes.products import RawProduct
from appliance.passes.settings import RawPasses
from appliance.providers.settings import RawProvider

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
HEADING = re.compile(r"^#{2,3} (?:`\[{1,2}([a-z.]+)\]{1,2}`)?.*$", re.M)  # a table's section

# section heading -> the struct its table documents, and the struct's fields documented elsewhere
STRUCTS: dict[str, tuple[type[msgspec.Struct], set[str]]] = {
    "stall": (config.RawStall, set()),
    "node": (config.RawNode, set()),
    "discovery": (config.RawDiscovery, set()),
    "sync": (config.RawSync, set()),
    "storage": (config.RawStorage, set()),
    "policy": (config.RawPolicy, {"rails"}),  # as rails.NAME.* rows, below
    "drops": (config.RawDrops, set()),
    "printer": (config.RawPrinter, set()),
    "catalog": (config.RawItem, set()),
    "provider": (RawProvider, set()),
    "passes": (RawPasses, {"products"}),  # its own section, passes.products
    "passes.products": (RawProduct, set()),
    "flags": (RawFlags, set()),
}


def _tables(text: str) -> dict[str, list[list[str]]]:
    """Per section, the rows of its `| key | ... |` tables, as lists of cells."""
    heads = list(HEADING.finditer(text))
    tables: dict[str, list[list[str]]] = {}
    for head, after in zip(heads, [*heads[1:], None], strict=True):
        body = text[head.end() : after.start() if after else len(text)]
        rows: list[list[str]] = []
        in_keys = False
        for line in body.splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not line.startswith("|"):
                in_keys = False
            elif cells[0] == "key":
                in_keys = True
            elif in_keys and not set(cells[0]) <= set("-"):
                rows.append(cells)
        if head[1]:
            tables[head[1]] = rows
    return tables


def _fields(struct: type[msgspec.Struct]) -> dict[str, object]:
    """A struct's fields and their defaults (msgspec.NODEFAULT when required)."""
    return {f.name: f.default for f in msgspec.structs.fields(struct)}


TABLES = _tables(DOC.read_text(encoding="utf-8"))


@pytest.mark.parametrize("section", sorted(STRUCTS))
def test_every_key_is_documented_and_no_other(section: str) -> None:
    struct, elsewhere = STRUCTS[section]
    expected = set(_fields(struct)) - elsewhere
    if section == "policy":
        expected |= {f"rails.NAME.{name}" for name in _fields(config.RawRailPolicy)}
    documented = {key for row in TABLES[section] for key in re.findall(r"`([^`]+)`", row[0])}
    assert documented == expected, (
        f"[{section}]: undocumented {sorted(expected - documented)}, "
        f"documented but not in the code {sorted(documented - expected)}"
    )


@pytest.mark.parametrize("section", ["stall", "node", "discovery", "sync", "storage", "drops"])
def test_the_documented_defaults_are_the_codes(section: str) -> None:
    defaults = _fields(STRUCTS[section][0])
    for row in TABLES[section]:
        key, default = row[0].strip("`"), row[1]
        if default == "required":
            assert defaults[key] is None, key  # required by the node, optional for qr and sync
            continue
        value = tomllib.loads(f"v = {default.strip('`')}")["v"]
        assert value == defaults[key], f"[{section}] {key}: documented {default}"


def test_the_policy_and_printer_defaults_are_the_codes() -> None:
    printer = _fields(config.RawPrinter)
    for row in TABLES["printer"]:
        assert tomllib.loads(f"v = {row[1].strip('`')}")["v"] == printer[row[0].strip("`")]
    (hold,) = [row for row in TABLES["policy"] if row[0] == "`order_hold_s`"]
    assert int(hold[1].strip("`")) == _fields(config.RawPolicy)["order_hold_s"]
