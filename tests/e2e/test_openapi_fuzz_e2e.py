"""Schemathesis over edge's published contract (/api/openapi.json) against the whole stack.

Every operation is called with generated requests, valid (POSITIVE) and invalid (NEGATIVE), as a logged-in client of a
fresh account: no answer may be a 5xx, and every answer must match what the schema documents for
it (status code, content type, headers, body). The session routes are left out: fuzzing
``/api/login`` would lock 127.0.0.1 out by the login throttle for the tests that run after, and
``/api/logout`` would revoke the token the other cases use; tests/integration/edge covers them.
"""

from __future__ import annotations

import uuid

import grpc
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.supervisor import Stack
from fxmesh.v1 import oms_pb2, oms_pb2_grpc, types_pb2

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 30
SESSION_ROUTES = r"^/api/(login|logout|token/refresh)$"


@pytest.fixture(scope="module")
def edge_contract(stack: Stack) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{stack.edge_url}/api/openapi.json")
    return schema.exclude(path_regex=SESSION_ROUTES)


@pytest.fixture(scope="module")
def client_headers(stack: Stack) -> dict[str, str]:
    """A bearer header of a fresh funded account (its own: the fuzzing trades on it)."""
    login = f"fuzz-{uuid.uuid4().hex[:10]}"
    password = "fuzz-password-1"
    with grpc.insecure_channel(f"127.0.0.1:{stack.config.ports.oms}") as channel:
        oms_pb2_grpc.OmsServiceStub(channel).CreateAccount(
            oms_pb2.CreateAccountRequest(
                login=login,
                password=password,
                type=types_pb2.ACCOUNT_TYPE_DEMO,
                currency="USD",
                leverage=100,
                margin_mode=types_pb2.MARGIN_MODE_HEDGING,
                initial_deposit="10000.00",
            ),
            timeout=30,
        )
    reply = httpx.post(
        f"{stack.edge_url}/api/login", json={"login": login, "password": password}, timeout=30
    )
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['accessToken']}"}


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_every_operation_answers_as_documented_and_never_5xx(
    edge_contract: schemathesis.BaseSchema, client_headers: dict[str, str]
) -> None:
    # Hypothesis driven per operation here rather than through schemathesis's pytest plugin
    # (its lazy fixture loader does not run on pytest 9.2); every operation runs, and every
    # failing one is reported.
    failures: list[str] = []
    operations = 0
    for result in edge_contract.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def answers_as_documented(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=client_headers, timeout=30, checks=CHECKS)

            try:
                answers_as_documented()
            except Unsatisfiable:
                # No input at all can be made invalid (an operation without parameters).
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # every failure, not only the first
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
    assert operations >= 25, f"only {operations} operations in the contract"
