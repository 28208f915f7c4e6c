"""The attendee pages in the stall's language and number formatting.

A small, explicit table: the phrases the pages show, in English and Portuguese, and how each
locale writes an amount. Unknown locales fall back to English with the currency code.
"""

from __future__ import annotations

from appliance.domain.money import Money

SYMBOLS = {
    "BRL": "R$",
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "INR": "₹",
    "THB": "฿",
    "SGD": "S$",
    "JPY": "¥",
}
DECIMAL_COMMA = {"pt", "de", "es", "fr", "it", "nl"}

PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "menu": "Menu", "add": "Review order", "cart": "Your order", "total": "Total",
        "note": "Note for the stall (optional)", "pay_with": "Pay with", "cash": "Cash at the stall",
        "pay": "Pay", "scan": "Scan with your bank or wallet app", "reference": "Reference",
        "copy_code": "Copy code", "open_app": "Open payment app", "waiting": "Waiting for the stall to confirm…",
        "paid": "Paid — thank you!", "receipt": "Receipt", "verified": "Signature verified",
        "not_verified": "Signature does NOT verify", "cancelled": "This order was cancelled.",
        "expired": "This order expired.", "empty": "Choose at least one item.", "sold_out": "sold out",
        "left": "left", "show_cash": "Show this reference at the stall and pay in cash.",
        "refresh": "This page refreshes by itself.", "scan_menu": "Scan to order",
        "ready": "Ready — pick it up at the stall!",
        "storage_full": "The stall's box is out of storage and cannot take orders right now; please ask the vendor.",
        "ev_bank": "the bank confirmed this payment",
        "ev_unmatched": "the bank statement shows no such payment: please talk to the stall",
        "ev_unverified": "confirmed at the stall; the bank has not confirmed it yet",
    },
    "pt": {
        "menu": "Cardápio", "add": "Revisar pedido", "cart": "Seu pedido", "total": "Total",
        "note": "Observação (opcional)", "pay_with": "Pagar com", "cash": "Dinheiro na barraca",
        "pay": "Pagar", "scan": "Escaneie com o app do seu banco", "reference": "Referência",
        "copy_code": "Copiar código", "open_app": "Abrir app de pagamento", "waiting": "Aguardando confirmação…",
        "paid": "Pago — obrigado!", "receipt": "Recibo", "verified": "Assinatura verificada",
        "not_verified": "Assinatura NÃO confere", "cancelled": "Este pedido foi cancelado.",
        "expired": "Este pedido expirou.", "empty": "Escolha pelo menos um item.", "sold_out": "esgotado",
        "left": "restantes", "show_cash": "Mostre esta referência na barraca e pague em dinheiro.",
        "refresh": "Esta página se atualiza sozinha.", "scan_menu": "Escaneie para pedir",
        "ready": "Pronto — retire na barraca!",
        "storage_full": "A caixa da barraca está sem espaço e não pode receber pedidos agora; fale com o vendedor.",
        "ev_bank": "o banco confirmou este pagamento",
        "ev_unmatched": "o extrato do banco não mostra este pagamento: fale com a barraca",
        "ev_unverified": "confirmado na barraca; o banco ainda não confirmou",
    },
}  # fmt: skip


def phrases(locale: str) -> dict[str, str]:
    """The phrase table for a locale like pt-BR (by language), English if unknown."""
    return PHRASES.get(locale.split("-")[0].lower(), PHRASES["en"])


def format_money(amount: Money, locale: str) -> str:
    """An amount as the locale writes it: R$ 18,50 in pt-BR, €18.50 in en, 1.234,50 € in de."""
    language = locale.split("-")[0].lower()
    text = amount.decimal()
    negative = text.startswith("-")
    whole, _, fraction = text.lstrip("-").partition(".")
    grouped = f"{int(whole):,}"
    if language in DECIMAL_COMMA:
        grouped = grouped.replace(",", ".")
        number = grouped + ("," + fraction if fraction else "")
    else:
        number = grouped + ("." + fraction if fraction else "")
    symbol = SYMBOLS.get(amount.currency)
    sign = "-" if negative else ""
    if symbol is None:
        return f"{sign}{number} {amount.currency}"
    if language in {"de", "fr", "es", "it", "nl"}:
        return f"{sign}{number} {symbol}"
    return f"{sign}{symbol} {number}" if language == "pt" else f"{sign}{symbol}{number}"
