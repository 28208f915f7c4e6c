"""Check digits of the identifiers rails carry: IBAN (mod 97), CPF, CNPJ, ISO 11649 RF references.

A mistyped IBAN or CPF in the config would send customers' money nowhere; these checks refuse it
at load time, naming the field.
"""

from __future__ import annotations

import re
import string

_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_ALNUM = string.digits + string.ascii_uppercase


def _mod97(text: str) -> int:
    """Letters to numbers (A=10 … Z=35), then the number mod 97."""
    return int("".join(str(_ALNUM.index(c)) for c in text)) % 97


def iban_problem(iban: str) -> str | None:
    """None for a valid IBAN (spaces allowed), else what is wrong."""
    compact = iban.replace(" ", "").upper()
    if not _IBAN.match(compact):
        return "not an IBAN (2 letters, 2 check digits, 11-30 letters or digits)"
    if _mod97(compact[4:] + compact[:4]) != 1:
        return "checksum fails"
    return None


def rf_reference(reference: str) -> str:
    """An ISO 11649 structured creditor reference ("RF" + 2 check digits + the reference)."""
    body = reference.upper()
    if not re.fullmatch(r"[A-Z0-9]{1,21}", body):
        raise ValueError(f"{reference!r}: 1-21 letters or digits for an RF reference")
    check = 98 - _mod97(body + "RF00")
    return f"RF{check:02d}{body}"


def rf_valid(reference: str) -> bool:
    """True when an RF reference's check digits hold."""
    compact = reference.replace(" ", "").upper()
    return (
        bool(re.fullmatch(r"RF[0-9]{2}[A-Z0-9]{1,21}", compact))
        and _mod97(compact[4:] + compact[:4]) == 1
    )


def _cpf_digit(digits: str, weights: range) -> int:
    total = sum(int(d) * w for d, w in zip(digits, weights, strict=False))
    rest = total * 10 % 11
    return 0 if rest == 10 else rest


def cpf_valid(cpf: str) -> bool:
    """Brazilian CPF: 11 digits, two mod-11 check digits, not all equal."""
    if not re.fullmatch(r"[0-9]{11}", cpf) or len(set(cpf)) == 1:
        return False
    return _cpf_digit(cpf[:9], range(10, 1, -1)) == int(cpf[9]) and _cpf_digit(
        cpf[:10], range(11, 1, -1)
    ) == int(cpf[10])


def cnpj_valid(cnpj: str) -> bool:
    """Brazilian CNPJ: 14 digits, two mod-11 check digits."""
    if not re.fullmatch(r"[0-9]{14}", cnpj) or len(set(cnpj)) == 1:
        return False
    weights = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    for position in (12, 13):
        total = sum(int(d) * w for d, w in zip(cnpj[:position], weights, strict=False))
        digit = 0 if total % 11 < 2 else 11 - total % 11
        if digit != int(cnpj[position]):
            return False
        weights = [6, *weights]
    return True
