"""The HTTP error table: gRPC code -> status, body shape, generic 500s."""

from __future__ import annotations

import json

import grpc
import pytest

from fxmesh.errors import FxError, InvalidArgument, NotFound
from fxmesh.http import fx_error_response


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.PERMISSION_DENIED, 403),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.ALREADY_EXISTS, 409),
        (grpc.StatusCode.FAILED_PRECONDITION, 409),
    ],
)
def test_fx_error_response_when_known_code_then_mapped_status_and_reason(code, status):
    response = fx_error_response(FxError("boom", reason="SOME_REASON", code=code))

    assert response.status_code == status
    assert json.loads(response.body) == {
        "code": "SOME_REASON",
        "message": "boom",
        "details": {},
    }


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        (grpc.StatusCode.UNAVAILABLE, 503, "service temporarily unavailable"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504, "upstream timed out"),
    ],
)
def test_fx_error_response_when_transport_failure_then_peer_address_hidden(code, status, message):
    response = fx_error_response(
        FxError("failed to connect to ipv4:10.1.2.3:50051", reason=code.name, code=code)
    )

    assert response.status_code == status
    assert json.loads(response.body) == {"code": code.name, "message": message, "details": {}}


@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN])
def test_fx_error_response_when_internal_then_500_with_generic_message(code):
    response = fx_error_response(FxError("db password is hunter2", reason="DB", code=code))

    assert response.status_code == 500
    assert json.loads(response.body) == {
        "code": "INTERNAL",
        "message": "internal error",
        "details": {},
    }


def test_fx_error_response_when_metadata_then_in_details():
    response = fx_error_response(
        InvalidArgument("too precise", reason="INVALID_PRECISION", metadata={"field": "volume"})
    )

    assert json.loads(response.body)["details"] == {"field": "volume"}


def test_fx_error_response_when_unauthenticated_then_www_authenticate_bearer():
    from fxmesh.errors import Unauthenticated

    response = fx_error_response(Unauthenticated("no token"))

    assert response.headers["www-authenticate"] == "Bearer"
    assert fx_error_response(NotFound("x")).headers.get("www-authenticate") is None
