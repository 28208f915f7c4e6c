"""ISO 20022 camt.053 (statement) and camt.054 (debit/credit notification) into credits.

Read with defusedxml over the stdlib parser: a DTD, and so any external entity (XXE) or
entity expansion ("billion laughs"), is refused before a single entity is read. Any message
version (camt.053.001.02 to .13, camt.054.001.02 to .13) is accepted: the namespace is taken
from the root and the elements used here kept their names across versions.

Where things land (ISO 20022 message definitions; EPC "SEPA credit transfer" guidelines):
- one Ntry per booking; a batch booked as one entry lists each payment as a NtryDtls/TxDtls,
  and each TxDtls becomes its own credit with its own amount (TxDtls/Amt, or
  AmtDtls/TxAmt/Amt in older versions);
- the EPC QR's structured reference in TxDtls/RmtInf/Strd/CdtrRefInf/Ref, else free text in
  RmtInf/Ustrd; the end-to-end id in TxDtls/Refs/EndToEndId, often "NOTPROVIDED";
- the key: TxDtls/Refs/AcctSvcrRef when the bank gives one per transaction, else the entry's
  AcctSvcrRef plus the transaction's place in the entry (batched TxDtls share the entry's
  reference: OCA bank-statement-import #475), else a hash of the line (domain.credits);
- credits only (CdtDbtInd CRDT); a DBIT with RvslInd true takes a credit back (a reversal);
  only booked entries (Sts BOOK) count — pending and information-only entries are skipped.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from appliance.domain.credits import Credit, number_repeats
from appliance.domain.money import Money
from appliance.statements.errors import StatementError
from appliance.statements.source import MAX_BYTES, Statement, midnight, money, read_bounded

_NS = re.compile(r"\{(urn:iso:std:iso:20022:tech:xsd:camt\.05[34]\.\d{3}\.\d{2})\}Document")
_CONTAINERS = {"053": ("BkToCstmrStmt", "Stmt"), "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn")}


class _Reader:
    """One document's namespace, so that paths read like the standard's ("Ntry/Amt")."""

    def __init__(self, file: str, ns: str) -> None:
        self.file = file
        self.ns = "{" + ns + "}"
        self._paths: dict[str, str] = {}

    def path(self, path: str) -> str:
        found = self._paths.get(path)
        if found is None:
            found = self._paths[path] = "/".join(self.ns + p for p in path.split("/"))
        return found

    def text(self, node: Element, path: str) -> str:
        found = node.find(self.path(path))
        return (found.text or "").strip() if found is not None else ""

    def all(self, node: Element, path: str) -> list[Element]:
        return node.findall(self.path(path))


def parse_camt(data: bytes, file: str) -> Statement:
    """The credits of a camt.053 or camt.054 document."""
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise StatementError(
            file, "DTD", f"refused ({type(exc).__name__}): no DTD allowed"
        ) from exc
    except ParseError as exc:
        line, column = exc.position
        raise StatementError(file, f"line {line}, column {column}", f"not XML: {exc}") from exc
    match = _NS.fullmatch(root.tag)
    if match is None:
        raise StatementError(file, root.tag, "not a camt.053 or camt.054 Document")
    kind = match[1].split(".")[1]
    outer, inner = _CONTAINERS[kind]
    reader = _Reader(file, match[1])
    credits: list[Credit] = []
    skipped = 0
    for s, report in enumerate(reader.all(root, f"{outer}/{inner}"), 1):
        for n, entry in enumerate(reader.all(report, "Ntry"), 1):
            found, skip = _entry(reader, entry, f"{inner}[{s}]/Ntry[{n}]")
            credits.extend(found)
            skipped += skip
    return Statement(file, f"camt.{kind}", tuple(number_repeats(credits)), skipped)


def read_camt(path: Path, max_bytes: int = MAX_BYTES) -> Statement:
    """Read a camt.053 or camt.054 file."""
    return parse_camt(read_bounded(path, max_bytes), str(path))


def _entry(r: _Reader, entry: Element, where: str) -> tuple[list[Credit], int]:
    """The credits of one Ntry, and how many of its transactions were skipped."""
    status = r.text(entry, "Sts/Cd") or r.text(entry, "Sts")
    if status != "BOOK":
        return [], 1
    direction = _direction(r, entry, f"{where}/CdtDbtInd")
    reversal = r.text(entry, "RvslInd").lower() in ("true", "1")
    booked, day_only = _when(r, entry, where)
    entry_ref = r.text(entry, "AcctSvcrRef")
    details = r.all(entry, "NtryDtls/TxDtls")
    if not details:
        if _evidence(direction, reversal):
            amount = _amount(r, entry, "Amt", where)
            source = f"{r.file}: {where}"
            credit = Credit(
                entry_ref or None, amount, booked, day_only, reversal=reversal, source=source
            )
            return [credit], 0
        return [], 1
    credits: list[Credit] = []
    skipped = 0
    for i, tx in enumerate(details, 1):
        here = f"{where}/NtryDtls/TxDtls[{i}]"
        tx_direction = r.text(tx, "CdtDbtInd") or direction
        if not _evidence(tx_direction, reversal):
            skipped += 1
            continue
        if r.all(tx, "Amt") or r.all(tx, "AmtDtls/TxAmt/Amt"):
            amount = _amount(r, tx, "Amt" if r.all(tx, "Amt") else "AmtDtls/TxAmt/Amt", here)
        elif len(details) == 1:
            amount = _amount(r, entry, "Amt", where)
        else:
            raise StatementError(r.file, here, "a batched transaction without its own Amt")
        tx_ref = r.text(tx, "Refs/AcctSvcrRef")
        bank_id = tx_ref or (f"{entry_ref}/{i}" if entry_ref and len(details) > 1 else entry_ref)
        credit = Credit(
            bank_id or None,
            amount,
            booked,
            day_only,
            txid=r.text(tx, "Refs/TxId"),
            end_to_end_id=r.text(tx, "Refs/EndToEndId"),
            creditor_ref=r.text(tx, "RmtInf/Strd/CdtrRefInf/Ref"),
            text=" ".join(
                t.text.strip() for t in r.all(tx, "RmtInf/Ustrd") if t.text and t.text.strip()
            ),
            reversal=reversal,
            source=f"{r.file}: {here}",
        )
        credits.append(credit)
    return credits, skipped


def _evidence(direction: str, reversal: bool) -> bool:
    """A credit, or a debit that reverses one; not a debit, nor a reversed debit."""
    return direction == ("DBIT" if reversal else "CRDT")


def _direction(r: _Reader, entry: Element, where: str) -> str:
    direction = r.text(entry, "CdtDbtInd")
    if direction not in ("CRDT", "DBIT"):
        raise StatementError(r.file, where, f"CRDT or DBIT expected, got {direction!r}")
    return direction


def _amount(r: _Reader, node: Element, path: str, where: str) -> Money:
    found = node.find(r.path(path))
    if found is None:
        raise StatementError(r.file, f"{where}/{path}", "missing")
    currency = found.get("Ccy", "")
    return money(r.file, f"{where}/{path}", (found.text or "").strip(), currency)


def _when(r: _Reader, entry: Element, where: str) -> tuple[datetime, bool]:
    """Booking (else value) time; a date, or a time without an offset, is date-only."""
    for path in ("BookgDt/DtTm", "BookgDt/Dt", "ValDt/DtTm", "ValDt/Dt"):
        text = r.text(entry, path)
        if not text:
            continue
        try:
            if path.endswith("/Dt"):
                return midnight(date.fromisoformat(text[:10])), True
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise StatementError(r.file, f"{where}/{path}", f"not an ISO date: {text!r}") from exc
        if moment.tzinfo is None:
            return midnight(moment.date()), True
        return moment.astimezone(UTC), False
    raise StatementError(r.file, f"{where}/BookgDt", "no booking or value date")
