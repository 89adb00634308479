"""Keyset paging: a page ends at a (time, id) cursor, handed to clients as an opaque token."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

from fxmesh.errors import InvalidArgument
from fxmesh.reasons import Reason

__all__ = ["Cursor", "decode_token", "encode_token"]

Cursor = tuple[datetime, int]  # keyset position: (time, id) of the last item of a page

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_token(cursor: Cursor) -> str:
    """An opaque page token for the keyset position (time, id) of a page's last item."""
    micros = (cursor[0] - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"{micros}:{cursor[1]}".encode()).decode().rstrip("=")


def decode_token(token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        micros, ident = raw.split(":")
        return _EPOCH + timedelta(microseconds=int(micros)), int(ident)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise InvalidArgument(
            "page_token is not a token this server issued",
            reason=Reason.INVALID_PAGE_TOKEN,
            metadata={"field": "page_token"},
        ) from None
