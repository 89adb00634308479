"""One error model: FxError carries a gRPC status code, an UPPER_SNAKE reason and metadata.

On the wire it travels as ``google.rpc.Status`` with a ``google.rpc.ErrorInfo`` detail (domain
``fxmesh``); ``from_rpc_error`` reads it back on the calling side, so a reason raised in oms reaches
edge's HTTP response unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

ERROR_DOMAIN = "fxmesh"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


class FxError(Exception):
    """A request that could not be processed. Business outcomes (a rejected order) are data, not this."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    default_reason: str = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        code: grpc.StatusCode | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata: dict[str, str] = dict(metadata or {})
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.name}, {self.reason}, {self.message!r})"

    def to_status(self) -> status_pb2.Status:
        """The google.rpc.Status that carries this error over gRPC."""
        info = error_details_pb2.ErrorInfo(
            reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata
        )
        detail = any_pb2.Any()
        detail.Pack(info)
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=[detail])


class InvalidArgument(FxError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"


class NotFound(FxError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"


class AlreadyExists(FxError):
    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(FxError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class Unauthenticated(FxError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(FxError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class Unavailable(FxError):
    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UNAVAILABLE"


class DeadlineExceeded(FxError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"


class ResourceExhausted(FxError):
    """A limit of the server's was reached (not overload: ``fxmesh.admission.Overloaded``)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"


_BY_CODE: dict[grpc.StatusCode, type[FxError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        Unauthenticated,
        PermissionDenied,
        Unavailable,
        DeadlineExceeded,
    )
}
_CODE_BY_NUMBER = {c.value[0]: c for c in grpc.StatusCode}


def from_rpc_error(exc: grpc.RpcError) -> FxError:
    """Rebuild the FxError a remote service raised, reason and metadata included."""
    code: grpc.StatusCode = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    message: str = (exc.details() if hasattr(exc, "details") else None) or code.name
    reason, metadata = code.name, {}
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        reason = code.name
    trailers = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    # Sync errors carry _Metadatum (key, value) named tuples, aio errors an aio.Metadata of pairs.
    for key, value in cast(Iterable[tuple[str, Any]], trailers or ()):
        if key != _STATUS_DETAILS_KEY:
            continue
        status = status_pb2.Status.FromString(value)
        code = _CODE_BY_NUMBER.get(status.code, code)
        message = status.message or message
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                reason, metadata = info.reason, dict(info.metadata)
    cls = _BY_CODE.get(code, FxError)
    return cls(message, reason=reason, metadata=metadata, code=code)


assert code_pb2.OK == 0  # google.rpc.Code numbers equal grpc.StatusCode numbers
