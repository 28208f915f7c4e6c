"""The attendee's language: Accept-Language negotiation, the gettext catalogs, CLDR formatting,
and page errors by code (issue 15). In-process and fast; tests/e2e/test_attendee_pages.py drives
the same pages in Chromium.

Expected amounts and times are CLDR's (https://cldr.unicode.org/) as Babel 2.19 formats them:
each locale's "standard" currency pattern (pt-BR "¤ #,##0.00", hi "¤#,##,##0.00", de
"#,##0.00 ¤") and "medium" time pattern (pt "HH:mm:ss", en "h:mm:ss a").
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from node_support import attendee_app
from starlette.testclient import TestClient

from appliance.api.attendee.attendee import fingerprint_groups
from appliance.api.locale import CATALOGS, DOMAIN, LOCALES_DIR, Languages, accepted_tags
from appliance.config import load_config
from appliance.domain.money import Money
from appliance.errors import ConfigError
from appliance.services.box import init_state

NB = str.maketrans({"\u00a0": " ", "\u202f": " "})
PLACEHOLDER = re.compile(r"%\([a-z]+\)s")


def test_accept_language_is_ranked_by_quality_and_bounded() -> None:
    assert accepted_tags("fr;q=0.5, de, en;q=0.9") == ["de", "en", "fr"]
    assert accepted_tags("x-<script>, th;q=0, nl;q=0.1, *") == ["nl"]  # junk, q=0, * dropped
    assert accepted_tags("de;q=abc, it") == ["it"]
    assert len(accepted_tags(",".join(["de"] * 500))) <= 12


@pytest.mark.parametrize(
    ("header", "catalog", "tag"),
    [
        ("pt-BR,pt;q=0.9", "pt_BR", "pt-BR"),
        ("pt-PT", "pt_BR", "pt-PT"),  # Portuguese words, Portugal's number format
        ("zh-CN,zh;q=0.9", "zh_Hans", "zh-Hans-CN"),
        ("zh-TW, en;q=0.5", "en", "en"),  # no Traditional catalog: the next choice
        ("hi-IN", "hi", "hi-IN"),
        ("ja, es;q=0.3", "es", "es"),
        ("ja", "pt_BR", "pt-BR"),  # nothing known: the stall's
        ("", "pt_BR", "pt-BR"),
        ("th-TH", "th", "th-TH"),
    ],
)
def test_the_page_language_is_the_first_the_catalogs_cover(
    header: str, catalog: str, tag: str
) -> None:
    chosen = Languages("pt-BR", UTC).for_header(header)
    assert (chosen.catalog, chosen.tag) == (catalog, tag)


def test_a_stall_locale_without_a_catalog_falls_back_to_english() -> None:
    assert Languages("xx-YY", UTC).fallback.catalog == "en"
    assert Languages("th-TH", UTC).for_header("ja").tag == "th-TH"


@pytest.mark.parametrize(
    ("locale", "amount", "expected"),
    [
        ("pt-BR", Money(2400, "BRL"), "R$ 24,00"),
        ("hi", Money(12345600, "INR"), "₹1,23,456.00"),
        ("en-IN", Money(12345600, "INR"), "₹1,23,456.00"),
        ("en", Money(12345600, "INR"), "₹123,456.00"),
        ("th", Money(2400, "THB"), "฿24.00"),
        ("de", Money(123450, "EUR"), "1.234,50 €"),
        ("fr", Money(123450, "EUR"), "1 234,50 €"),
        ("nl", Money(2400, "BRL"), "R$ 24,00"),
        ("zh-Hans", Money(2400, "CNY"), "¥24.00"),
        ("es", Money(1850, "EUR"), "18,50 €"),
        ("it", Money(1850, "EUR"), "18,50 €"),
        ("en", Money(500, "JPY"), "¥500"),  # no minor unit
    ],
)
def test_amounts_are_written_the_cldr_way(locale: str, amount: Money, expected: str) -> None:
    written = Languages("en", UTC).for_header(locale).money(amount)
    assert written.translate(NB) == expected


def test_times_are_in_the_stall_zone_and_the_attendee_locale() -> None:
    at = datetime(2026, 12, 4, 18, 9, 32, tzinfo=UTC)
    languages = Languages("pt-BR", ZoneInfo("America/Sao_Paulo"))
    assert languages.for_header("pt-BR").time(at) == "15:09:32"
    assert languages.for_header("en").time(at).translate(NB) == "3:09:32 PM"


def catalog(name: str) -> Path:
    return LOCALES_DIR / name / "LC_MESSAGES" / f"{DOMAIN}.po"


def test_every_catalog_translates_every_message_with_the_same_placeholders() -> None:
    template = {m.id for m in read_po((LOCALES_DIR / f"{DOMAIN}.pot").open("rb")) if m.id}
    for name in CATALOGS:
        messages = [m for m in read_po(catalog(name).open("rb")) if m.id]
        assert {m.id for m in messages} == template, f"{name}: run pybabel update"
        for m in messages:
            if name == "en":
                continue  # the msgids are English
            assert m.string and "fuzzy" not in m.flags, f"{name}: {m.id!r} untranslated"
            assert sorted(PLACEHOLDER.findall(str(m.id))) == sorted(
                PLACEHOLDER.findall(str(m.string))
            ), f"{name}: {m.id!r}"


def test_the_committed_mo_files_are_compiled_from_the_po_files() -> None:
    for name in CATALOGS:
        compiled = io.BytesIO()
        write_mo(compiled, read_po(catalog(name).open("rb"), locale=name))
        committed = catalog(name).with_suffix(".mo").read_bytes()
        assert compiled.getvalue() == committed, f"{name}: run pybabel compile (docs/i18n.md)"


def test_the_template_holds_every_string_the_pages_and_code_mark() -> None:
    repo = LOCALES_DIR.parents[2]
    method_map = [
        ("appliance/api/locale.py", "python"),
        ("appliance/api/attendee/templates/**.html", "jinja2"),
    ]
    found = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(repo), method_map, keywords={"_": None, "N_": None}
        )
        if str(_file).startswith("appliance/api/")
    }
    template = {m.id for m in read_po((LOCALES_DIR / f"{DOMAIN}.pot").open("rb")) if m.id}
    assert found == template, f"run pybabel extract (docs/i18n.md): {found ^ template}"


def test_the_fingerprint_is_split_between_groups_never_inside_one() -> None:
    prefix, groups = fingerprint_groups("SHA256:" + ":".join(["ab12"] * 16))
    assert prefix == "SHA256:" and groups == ["ab12"] * 16


def test_a_bad_stall_timezone_is_named(tmp_path: Path) -> None:
    state = tmp_path / "state"
    init_state(state, "BRL", datetime.now(UTC))
    config = state / "stallbox.toml"
    config.write_text(
        config.read_text().replace('locale = "pt-BR"', 'locale = "pt-BR"\ntimezone = "Mars/Base"')
    )
    with pytest.raises(ConfigError, match=r"stall\.timezone"):
        load_config(config)


def test_the_menu_shows_an_error_by_code_never_text_from_the_url(tmp_path: Path) -> None:
    app = attendee_app(tmp_path / "state")
    with TestClient(app) as phone:
        crafted = phone.get(
            "/?error=Pay+at+evil.example+instead", headers={"Accept-Language": "en"}
        )
        assert crafted.status_code == 200
        assert "evil" not in crafted.text and 'id="error"' not in crafted.text
        coded = phone.get("/?error=empty", headers={"Accept-Language": "de"})
        assert 'data-error="empty">Bitte mindestens einen Artikel wählen.<' in coded.text
        assert coded.headers["vary"] == "Accept-Language"
        empty_cart = phone.post("/cart", content=b"coffee=0", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "th",
        }, follow_redirects=False)  # fmt: skip
        assert empty_cart.headers["location"] == "/?error=empty"
        thai = phone.get("/", headers={"Accept-Language": "th"}).text
        assert '<html lang="th">' in thai and "เมนู" in thai and "฿" not in thai  # BRL stall


def test_a_phone_posting_too_fast_is_told_so_in_its_language(tmp_path: Path) -> None:
    app = attendee_app(tmp_path / "state")
    form = {"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "nl"}
    with TestClient(app) as phone:
        answers = [phone.post("/cart", content=b"coffee=1", headers=form) for _ in range(40)]
    busy = [a for a in answers if a.status_code == 429]
    assert busy, "the limiter (burst 20) never answered 429"
    assert "Te veel verzoeken." in busy[0].text and '<html lang="nl">' in busy[0].text
    assert int(busy[0].headers["retry-after"]) >= 1
