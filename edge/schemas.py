"""Request bodies of the client API (camelCase JSON).

Decimals must be JSON strings: FastAPI parses the body with ``json.loads``, so a JSON number would
reach us already as a binary float (``0.1`` is not 0.1, 1.00000000000000001 is 1.0); we cannot
guarantee exactness, so a number is refused with ``DECIMAL_MUST_BE_STRING`` instead of being rounded.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

DECIMAL_MUST_BE_STRING = "DECIMAL_MUST_BE_STRING"
# The 422 ``code`` for edge's own validation error types (the rest are VALIDATION_ERROR).
VALIDATION_CODES = {DECIMAL_MUST_BE_STRING.lower(): DECIMAL_MUST_BE_STRING}


def _decimal_string(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise PydanticCustomError(
            DECIMAL_MUST_BE_STRING.lower(),
            'decimals must be sent as JSON strings, e.g. "0.10", so that they stay exact',
        )
    return value


DecimalString = Annotated[str, BeforeValidator(_decimal_string), Field(min_length=1, max_length=40)]


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class LoginRequest(ApiModel):
    login: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=256)


class MarketOrderRequest(ApiModel):
    symbol: str = Field(min_length=1, max_length=32)
    side: Literal["BUY", "SELL"]
    volume: DecimalString
    client_order_id: str = Field(min_length=1, max_length=64)
    requested_price: DecimalString | None = None
    deviation_points: int | None = Field(default=None, ge=0, le=100_000, strict=True)
