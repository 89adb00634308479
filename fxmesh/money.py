"""Decimal money and prices at trust boundaries: parse strictly, quantize with a named rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from fxmesh.errors import InvalidArgument
from fxmesh.reasons import Reason

# ISO 4217 minor units of the account currencies we book in.
CURRENCY_DIGITS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CHF": 2,
    "AUD": 2,
    "CAD": 2,
    "NZD": 2,
    "JPY": 0,
}
ZERO = Decimal(0)


def parse_decimal(
    value: str,
    field: str,
    *,
    max_places: int | None = None,
    positive: bool = False,
) -> Decimal:
    """Parse a client-supplied decimal string; reject floats' artefacts rather than round them.

    Too many decimal places is an error (``INVALID_PRECISION``), never a silent rounding.
    """
    text = value.strip() if isinstance(value, str) else None
    if not text:
        raise InvalidArgument(
            f"{field} is required", reason=Reason.MISSING_FIELD, metadata={"field": field}
        )
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise InvalidArgument(
            f"{field} is not a decimal number: {value!r}",
            reason=Reason.INVALID_DECIMAL,
            metadata={"field": field},
        ) from None
    if not number.is_finite():
        raise InvalidArgument(
            f"{field} must be finite", reason=Reason.INVALID_DECIMAL, metadata={"field": field}
        )
    if positive and number <= 0:
        raise InvalidArgument(
            f"{field} must be positive", reason=Reason.INVALID_DECIMAL, metadata={"field": field}
        )
    if max_places is not None and places(number) > max_places:
        raise InvalidArgument(
            f"{field} has more than {max_places} decimal places: {value}",
            reason=Reason.INVALID_PRECISION,
            metadata={"field": field, "max_places": str(max_places)},
        )
    return number


def places(number: Decimal) -> int:
    """Number of significant decimal places (trailing zeros do not count)."""
    exponent = number.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def quantize(number: Decimal, digits: int, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Round to ``digits`` places with an explicit rounding mode (banker's rounding by default)."""
    return number.quantize(Decimal(1).scaleb(-digits), rounding=rounding)


def to_money(amount: Decimal, currency: str) -> Decimal:
    """Round an amount to the currency's minor unit."""
    return quantize(amount, CURRENCY_DIGITS.get(currency, 2))


def fmt(number: Decimal | None) -> str:
    """Plain decimal string for the wire (no exponent); empty string for None."""
    if number is None:
        return ""
    return format(number, "f")
