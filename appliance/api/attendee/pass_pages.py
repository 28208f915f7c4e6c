"""The pass an attendee presents: read from the posted form, verified offline on every use.

The phone keeps the pass text in localStorage (a pass link `/#pass=SBP1:…` stores it; the
fragment never reaches a server log) and the pages' script adds it to the menu's and drop's
forms as the field `pass`. The node trusts only what verifies, now, against the creators of
[passes]; what an allowance has left is counted here, per pass and period, never by the phone.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request

from appliance.api.attendee.form_fields import MAX_FIELDS
from appliance.api.bounds import form_text
from appliance.passes.errors import PassRefused, Reason
from appliance.passes.model import Pass
from appliance.services.passes import PassDesk

PASS_FIELD = "pass"  # noqa: S105 - a form field name, not a secret
REFUSAL_CODES = {  # the page message shown for each reason (locale.ERRORS)
    Reason.EXPIRED: "pass_expired",
    Reason.NOT_YET_VALID: "pass_not_yet_valid",
    Reason.REVOKED: "pass_revoked",
}  # every other reason: "pass_invalid"


@dataclass(frozen=True, slots=True)
class Presented:
    """A pass the form carried: verified (`card`), or refused with a page code and the reason."""

    text: str
    card: Pass | None = None
    code: str | None = None
    reason: str | None = None


async def presented(request: Request, desk: PassDesk) -> Presented | None:
    """The pass in the posted form, verified now; None when the form carries none."""
    body = form_text(await request.body())  # Starlette keeps the body: the handler reads it too
    try:
        fields = parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        return None
    return presented_in(fields, desk)


def presented_in(fields: list[tuple[str, str]], desk: PassDesk) -> Presented | None:
    """The pass in a form's parsed fields, verified now; None when they carry none."""
    text = next((v.strip() for k, v in fields if k == PASS_FIELD and v.strip()), None)
    if text is None:
        return None
    try:
        return Presented(text, card=desk.verify(text))
    except PassRefused as exc:
        code = REFUSAL_CODES.get(exc.reason, "pass_invalid")
        return Presented(text, code=code, reason=exc.reason.value)
