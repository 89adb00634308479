"""The audit log: append-only (a trigger refuses UPDATE / DELETE / TRUNCATE) and hash-chained.

Each row stores ``prev_hash`` (the ``row_hash`` of the row before it, '' for the first chained row)
and ``row_hash = sha256(canonical(row))`` where the canonical encoding is the UTF-8 JSON text of
``{"v": 1, "prev": prev_hash, "time": <ISO-8601 UTC, microseconds>, "actor", "role", "sourceIp",
"userAgent", "action", "resource", "before", "after", "requestId", "outcome", "errorCode",
"traceId"}`` with sorted keys, no whitespace (``separators=(",", ":")``) and non-ASCII kept as is.
before/after hold only strings, integers, booleans, null, lists and objects (decimals as strings),
so the documents read back from jsonb encode to the same text. Appends are serialized by a
transaction-scoped advisory lock, so the chain follows ``audit_id`` order across admin replicas.

An edited row fails its own hash; a deleted row breaks the next row's link. A truncated tail is
not visible from the chain alone: ``verify`` returns the head hash for an operator to keep.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from admin.domain import AuditEntry, AuditRecord
from fxmesh.errors import FailedPrecondition, InvalidArgument
from fxmesh.reasons import Reason

# pg_advisory_xact_lock key serializing appends ("admin.audit_log" as a stable 64-bit number).
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"admin.audit_log").digest()[:8], "big", signed=True)
EXPORT_MAX_ROWS = 100_000
VERIFY_BATCH = 1000
_COLUMNS = (
    "audit_id, actor, action, target, before::text AS before_json, after::text AS after_json, "
    "trace_id, created_at, role, source_ip, user_agent, request_id, outcome, error_code, "
    "prev_hash, row_hash"
)


def plain(value: Any) -> Any:
    """``value`` as a JSON document of stable types: Decimal -> str, enums -> value; no floats."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, datetime):
        return iso_micro(value)
    if isinstance(value, float):
        raise TypeError("audit documents never hold floats (use Decimal or str)")
    if value is None or isinstance(value, str | int | bool):
        return value
    raise TypeError(f"audit documents cannot hold {type(value).__name__}")


def iso_micro(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(
    *,
    prev_hash: str,
    created_at: datetime,
    actor: str,
    role: str,
    source_ip: str,
    user_agent: str,
    action: str,
    target: str,
    before: Any,
    after: Any,
    request_id: str,
    outcome: str,
    error_code: str,
    trace_id: str,
) -> bytes:
    """The bytes a row's hash covers (see the module docstring)."""
    doc = {
        "v": 1,
        "prev": prev_hash,
        "time": iso_micro(created_at),
        "actor": actor,
        "role": role,
        "sourceIp": source_ip,
        "userAgent": user_agent,
        "action": action,
        "resource": target,
        "before": before,
        "after": after,
        "requestId": request_id,
        "outcome": outcome,
        "errorCode": error_code,
        "traceId": trace_id,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: AuditEntry) -> str:
    """The hash a stored entry should carry, recomputed from its columns."""
    data = canonical(
        prev_hash=entry.prev_hash,
        created_at=entry.created_at,
        actor=entry.actor,
        role=entry.role,
        source_ip=entry.source_ip,
        user_agent=entry.user_agent,
        action=entry.action,
        target=entry.target,
        before=json.loads(entry.before_json) if entry.before_json else None,
        after=json.loads(entry.after_json) if entry.after_json else None,
        request_id=entry.request_id,
        outcome=entry.outcome,
        error_code=entry.error_code,
        trace_id=entry.trace_id,
    )
    return hashlib.sha256(data).hexdigest()


def _doc(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


async def append(db: Any, record: AuditRecord, *, now: datetime | None = None) -> int:
    """Append one chained entry (in its own transaction, or the caller's); return its audit_id."""
    if hasattr(db, "acquire"):
        async with db.acquire() as conn:
            return await append(conn, record, now=now)
    before, after = plain(record.before), plain(record.after)
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        prev = await db.fetchval(
            "SELECT row_hash FROM admin.audit_log WHERE row_hash IS NOT NULL "
            "ORDER BY audit_id DESC LIMIT 1"
        )
        # Stamped under the lock, so time never goes backwards along the chain.
        created_at = (now or datetime.now(UTC)).astimezone(UTC)
        fields = {
            "actor": record.actor,
            "role": record.role,
            "source_ip": record.source_ip,
            "user_agent": record.user_agent,
            "action": record.action,
            "target": record.target,
            "request_id": record.request_id,
            "outcome": record.outcome.value,
            "error_code": record.error_code,
            "trace_id": record.trace_id or "",
        }
        row_hash = hashlib.sha256(
            canonical(
                prev_hash=prev or "", created_at=created_at, before=before, after=after, **fields
            )
        ).hexdigest()
        audit_id: int = await db.fetchval(
            "INSERT INTO admin.audit_log (actor, role, source_ip, user_agent, action, target, "
            "before, after, request_id, outcome, error_code, trace_id, created_at, prev_hash, "
            "row_hash) VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8::text::jsonb, $9, $10, "
            "$11, $12, $13, $14, $15) RETURNING audit_id",
            record.actor,
            record.role,
            record.source_ip,
            record.user_agent,
            record.action,
            record.target,
            _doc(before),
            _doc(after),
            record.request_id,
            record.outcome.value,
            record.error_code,
            fields["trace_id"],
            created_at,
            prev or "",
            row_hash,
        )
    return audit_id


def _entry(r: Any) -> AuditEntry:
    return AuditEntry(
        audit_id=r["audit_id"],
        actor=r["actor"],
        action=r["action"],
        target=r["target"],
        before_json=r["before_json"] or "",
        after_json=r["after_json"] or "",
        trace_id=r["trace_id"] or "",
        created_at=r["created_at"],
        role=r["role"],
        source_ip=r["source_ip"],
        user_agent=r["user_agent"],
        request_id=r["request_id"],
        outcome=r["outcome"],
        error_code=r["error_code"],
        prev_hash=r["prev_hash"] or "",
        row_hash=r["row_hash"] or "",
    )


# --- search and export ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Exact matches on actor / action / resource, and created_at in [start, end)."""

    actor: str = ""
    action: str = ""
    target: str = ""
    start: datetime | None = None
    end: datetime | None = None


def encode_token(audit_id: int) -> str:
    return base64.urlsafe_b64encode(f"a:{audit_id}".encode()).decode().rstrip("=")


def decode_token(token: str) -> int | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "a" or not value.isdigit():
            raise ValueError(raw)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument(
            "page token is not valid",
            reason=Reason.INVALID_PAGE_TOKEN,
            metadata={"field": "pageToken"},
        ) from None


def _where(f: AuditFilter, args: list[Any]) -> str:
    clauses = []
    for column, value in (("actor", f.actor), ("action", f.action), ("target", f.target)):
        if value:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
    if f.start is not None:
        args.append(f.start)
        clauses.append(f"created_at >= ${len(args)}")
    if f.end is not None:
        args.append(f.end)
        clauses.append(f"created_at < ${len(args)}")
    return " AND ".join(clauses) or "true"


async def search(
    db: Any, f: AuditFilter, size: int, page_token: str
) -> tuple[list[AuditEntry], str]:
    """A page of entries, newest first, and the next page's token ('' on the last page)."""
    before_id = decode_token(page_token)
    args: list[Any] = []
    where = _where(f, args)
    if before_id is not None:
        args.append(before_id)
        where += f" AND audit_id < ${len(args)}"
    args.append(size + 1)
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM admin.audit_log WHERE {where} "
        f"ORDER BY audit_id DESC LIMIT ${len(args)}",
        *args,
    )
    entries = [_entry(r) for r in rows[:size]]
    more = len(rows) > size
    return entries, encode_token(entries[-1].audit_id) if more and entries else ""


CSV_HEADER = (
    "auditId",
    "createdAt",
    "actor",
    "role",
    "sourceIp",
    "userAgent",
    "action",
    "resource",
    "outcome",
    "errorCode",
    "requestId",
    "traceId",
    "before",
    "after",
    "prevHash",
    "rowHash",
)


def _cell(value: str) -> str:
    # A spreadsheet would run a cell starting with = + - @ as a formula (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_rows(entries: list[AuditEntry]) -> list[list[str]]:
    return [
        [
            str(e.audit_id),
            iso_micro(e.created_at),
            *(
                _cell(v)
                for v in (
                    e.actor,
                    e.role,
                    e.source_ip,
                    e.user_agent,
                    e.action,
                    e.target,
                    e.outcome,
                    e.error_code,
                    e.request_id,
                    e.trace_id,
                    e.before_json,
                    e.after_json,
                )
            ),
            e.prev_hash,
            e.row_hash,
        ]
        for e in entries
    ]


async def export_csv(db: Any, f: AuditFilter) -> tuple[str, int]:
    """Every matching entry, oldest first, as CSV with a header; refused above EXPORT_MAX_ROWS."""
    args: list[Any] = []
    where = _where(f, args)
    args.append(EXPORT_MAX_ROWS + 1)
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM admin.audit_log WHERE {where} ORDER BY audit_id LIMIT ${len(args)}",
        *args,
    )
    if len(rows) > EXPORT_MAX_ROWS:
        raise FailedPrecondition(
            f"more than {EXPORT_MAX_ROWS} entries match; narrow the filter (from/to)",
            reason="EXPORT_TOO_LARGE",
            metadata={"max_rows": str(EXPORT_MAX_ROWS)},
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_rows([_entry(r) for r in rows]))
    return out.getvalue(), len(rows)


# --- verification --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    checked: int
    first_broken_audit_id: int | None = None
    broken_reason: str = ""
    unchained: int = 0
    head_hash: str = ""


async def _all_rows(db: Any) -> AsyncIterator[AuditEntry]:
    after = 0
    while True:
        rows = await db.fetch(
            f"SELECT {_COLUMNS} FROM admin.audit_log WHERE audit_id > $1 "
            "ORDER BY audit_id LIMIT $2",
            after,
            VERIFY_BATCH,
        )
        for r in rows:
            yield _entry(r)
        if len(rows) < VERIFY_BATCH:
            return
        after = rows[-1]["audit_id"]


async def verify(db: Any) -> Verification:
    """Walk the chain oldest first; stop at the first row whose hash or link does not hold."""
    checked = unchained = 0
    prev: str | None = None  # None until the first chained row
    async for entry in _all_rows(db):
        if not entry.row_hash:
            if prev is None:
                unchained += 1
                continue
            return Verification(False, checked, entry.audit_id, "UNCHAINED_ROW", unchained)
        checked += 1
        if entry_hash(entry) != entry.row_hash:
            return Verification(False, checked, entry.audit_id, "ROW_HASH_MISMATCH", unchained)
        if entry.prev_hash != (prev or ""):
            return Verification(False, checked, entry.audit_id, "PREV_HASH_MISMATCH", unchained)
        prev = entry.row_hash
    return Verification(True, checked, unchained=unchained, head_hash=prev or "")
