"""Bad statement files: a clear StatementError naming the file and place, never a traceback."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statement_scenario import FIXTURES

from appliance.statements import StatementError, read_statement, sniff
from appliance.statements.camt import parse_camt
from appliance.statements.csvmap import load_column_map, parse_csv
from appliance.statements.mt940 import parse_mt940
from appliance.statements.ofx import parse_ofx

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
CSV_MAP = load_column_map(FIXTURES / "night-market.csv-map.toml")

# The classic attacks (OWASP XML External Entity Prevention Cheat Sheet; defusedxml's README).
XXE = f"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="{NS}"><BkToCstmrStmt><Stmt><Ntry><AddtlNtryInf>&xxe;</AddtlNtryInf></Ntry></Stmt></BkToCstmrStmt></Document>"""
LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + f']>\n<Document xmlns="{NS}">&lol9;</Document>'
)


@pytest.mark.parametrize("document", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_camt_refuses_any_dtd(document: str) -> None:
    with pytest.raises(StatementError, match=r"^evil\.xml: DTD: refused"):
        parse_camt(document.encode(), "evil.xml")


def entry(body: str) -> bytes:
    return (
        f'<Document xmlns="{NS}"><BkToCstmrStmt><Stmt><Ntry>{body}</Ntry></Stmt></BkToCstmrStmt></Document>'
    ).encode()


@pytest.mark.parametrize(
    ("body", "where", "problem"),
    [
        (
            "<Amt Ccy='EUR'>1.00</Amt><CdtDbtInd>CREDIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>",
            "Stmt[1]/Ntry[1]/CdtDbtInd",
            "CRDT or DBIT",
        ),
        (
            "<Amt Ccy='XXY'>1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-11-20</Dt></BookgDt>",
            "Stmt[1]/Ntry[1]/Amt",
            "unknown currency",
        ),
        (
            "<Amt Ccy='EUR'>1.001</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-11-20</Dt></BookgDt>",
            "Stmt[1]/Ntry[1]/Amt",
            "decimals",
        ),
        (
            "<Amt Ccy='EUR'>1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>20.11.2026</Dt></BookgDt>",
            "Stmt[1]/Ntry[1]/BookgDt/Dt",
            "not an ISO date",
        ),
        (
            "<Amt Ccy='EUR'>1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>",
            "Stmt[1]/Ntry[1]/BookgDt",
            "no booking",
        ),
        (
            "<Amt Ccy='EUR'>2.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-11-20</Dt></BookgDt>"
            "<NtryDtls><TxDtls/><TxDtls/></NtryDtls>",
            "Stmt[1]/Ntry[1]/NtryDtls/TxDtls[1]",
            "batched transaction without its own Amt",
        ),
    ],
)
def test_camt_errors_name_the_element(body: str, where: str, problem: str) -> None:
    with pytest.raises(StatementError, match=problem) as caught:
        parse_camt(entry(body), "day.xml")
    assert caught.value.file == "day.xml" and caught.value.where == where


def test_not_xml_names_the_line() -> None:
    with pytest.raises(StatementError, match=r"^day\.xml: line 2, column \d+: not XML"):
        parse_camt(b"<Document>\n<oops></Document>", "day.xml")


def test_another_xml_document_is_refused() -> None:
    with pytest.raises(StatementError, match=r"not a camt\.053 or camt\.054"):
        parse_camt(
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"/>', "pain.xml"
        )


def test_a_file_over_the_bound_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(b"<" + b"x" * 2048)
    with pytest.raises(StatementError, match="larger than 1024 bytes"):
        read_statement(big, max_bytes=1024)


def test_a_csv_without_its_map_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(StatementError, match="column map"):
        read_statement(path)


def test_a_missing_file_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(StatementError, match="cannot read"):
        read_statement(tmp_path / "nope.xml")


@pytest.mark.parametrize(
    ("line", "where"),
    [(":61:2611201120C18,5x0NTRFNONREF", "line 5"), (":61:garbage", "line 5")],
)
def test_mt940_names_the_bad_line(line: str, where: str) -> None:
    text = (
        (FIXTURES / "night-market.mt940")
        .read_text()
        .replace(":61:2611201120C18,50NTRFNONREF//2026112000001", line)
    )
    with pytest.raises(StatementError, match=":61: statement line") as caught:
        parse_mt940(text.encode(), "x.sta")
    assert caught.value.where == where


def test_csv_errors_name_the_line_and_column() -> None:
    text = (FIXTURES / "night-market.csv").read_text().replace("7,00", "7,0O")
    with pytest.raises(StatementError, match=r"line 5, column '7,0O'"):
        parse_csv(text.encode(), "x.csv", CSV_MAP)
    text = (
        (FIXTURES / "night-market.csv")
        .read_text()
        .replace("20/11/2026;PIX RECEBIDO;E000", "2026-11-20;PIX RECEBIDO;E000")
    )
    with pytest.raises(StatementError, match=r"line 5, column 'Data'"):
        parse_csv(text.encode(), "x.csv", CSV_MAP)


def test_ofx_garbage_is_named() -> None:
    with pytest.raises(StatementError, match=r"^x\.ofx: not a valid OFX statement"):
        parse_ofx(b"OFXHEADER:100\r\nDATA:OFXSGML\r\n\r\n<OFX><BANKMSGSRSV1>", "x.ofx")


# Mutations of the real fixtures reach deeper than random bytes would.
FILES = {
    "camt": (FIXTURES / "night-market.camt053.xml").read_bytes(),
    "ofx": (FIXTURES / "night-market.ofx").read_bytes(),
    "mt940": (FIXTURES / "night-market.mt940").read_bytes(),
    "csv": (FIXTURES / "night-market.csv").read_bytes(),
}


def parse(kind: str, data: bytes) -> None:
    if kind == "camt":
        parse_camt(data, "f")
    elif kind == "ofx":
        parse_ofx(data, "f")
    elif kind == "mt940":
        parse_mt940(data, "f")
    else:
        parse_csv(data, "f", CSV_MAP)


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(sorted(FILES)),
    st.lists(
        st.tuples(st.floats(0, 1), st.integers(0, 40), st.binary(max_size=6)),
        min_size=1,
        max_size=4,
    ),
)
def test_mangled_files_raise_only_statement_errors(
    kind: str, cuts: list[tuple[float, int, bytes]]
) -> None:
    data = FILES[kind]
    for where, length, insert in cuts:
        at = int(where * len(data))
        data = data[:at] + insert + data[at + length :]
    with contextlib.suppress(StatementError):
        parse(kind, data)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_statement_errors(data: bytes) -> None:
    for kind in FILES:
        with contextlib.suppress(StatementError):
            parse(kind, data)
    assert sniff(data) in FILES


HUGE = "9" * 5000  # past CPython's 4,300-digit limit on int(str): a ValueError, not an amount


@pytest.mark.parametrize(
    ("kind", "old", "new"),
    [
        ("camt", b">18.50<", f">{HUGE}.50<".encode()),
        ("csv", b";18,50", f";{HUGE},50".encode()),
        ("camt", b">18.50<", b">99999999999999999999.50<"),  # past a ledger's 64-bit integers
        ("csv", b";18,50", b";000" + b"0" * 5000 + b"18,50"),  # zeros in front: still 18.50
    ],
    ids=["camt-5000-digits", "csv-5000-digits", "camt-over-int64", "csv-leading-zeros"],
)
def test_an_amount_too_large_for_the_ledger_is_named(kind: str, old: bytes, new: bytes) -> None:
    data = FILES[kind].replace(old, new)  # camt: the entry's Amt and its TxDtls' alike
    if new.endswith(b"18,50"):
        parse(kind, data)  # a long run of zeros is still the amount it writes
        return
    with pytest.raises(StatementError, match="too large"):
        parse(kind, data)
