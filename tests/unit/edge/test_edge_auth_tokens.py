"""fxmesh.auth: issue and verify client/admin tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fxmesh.auth import TokenVerifier, bearer_token, issue_token, verify_token
from fxmesh.errors import Unauthenticated

SECRET = "unit-test-secret-0123456789"


def test_verify_token_when_fresh_client_token_then_returns_its_claims():
    token, issued = issue_token(
        SECRET, subject="1001", token_type="client", ttl=timedelta(hours=1), login="alice"
    )

    claims = verify_token(SECRET, token, expected_type="client")

    assert claims == issued
    assert claims.subject == "1001"
    assert claims.login == "alice"
    assert claims.role is None


def test_verify_token_when_expired_then_unauthenticated_token_expired():
    token, _ = issue_token(
        SECRET,
        subject="1001",
        token_type="client",
        ttl=timedelta(minutes=5),
        now=datetime.now(UTC) - timedelta(hours=1),
    )

    with pytest.raises(Unauthenticated) as err:
        verify_token(SECRET, token, expected_type="client")

    assert err.value.reason == "UNAUTHENTICATED"
    assert err.value.metadata == {"cause": "TOKEN_EXPIRED"}


@pytest.mark.parametrize(("issued", "expected"), [("client", "admin"), ("admin", "client")])
def test_verify_token_when_other_kind_then_unauthenticated_wrong_type(issued, expected):
    token, _ = issue_token(
        SECRET, subject="x", token_type=issued, ttl=timedelta(hours=1), role="SUPPORT"
    )

    with pytest.raises(Unauthenticated) as err:
        verify_token(SECRET, token, expected_type=expected)

    assert err.value.metadata == {"cause": "WRONG_TOKEN_TYPE"}


def test_verify_token_when_payload_tampered_then_unauthenticated_invalid():
    token, _ = issue_token(SECRET, subject="1001", token_type="client", ttl=timedelta(hours=1))
    forged, _ = issue_token(SECRET, subject="1002", token_type="client", ttl=timedelta(hours=1))
    header, _, signature = token.split(".")
    tampered = ".".join([header, forged.split(".")[1], signature])

    with pytest.raises(Unauthenticated) as err:
        verify_token(SECRET, tampered, expected_type="client")

    assert err.value.metadata == {"cause": "TOKEN_INVALID"}


def test_verify_token_when_signed_with_another_secret_then_unauthenticated_invalid():
    token, _ = issue_token(
        "another-secret-0123456789", subject="1", token_type="client", ttl=timedelta(hours=1)
    )

    with pytest.raises(Unauthenticated):
        verify_token(SECRET, token, expected_type="client")


def test_verify_token_when_admin_token_then_role_is_carried():
    token, _ = issue_token(
        SECRET, subject="root", token_type="admin", ttl=timedelta(hours=1), role="SUPER_ADMIN"
    )

    assert verify_token(SECRET, token, expected_type="admin").role == "SUPER_ADMIN"


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", ""), (None, ""), ("", "")],
)
def test_bearer_token_when_header_given_then_extracts_only_bearer(header, token):
    assert bearer_token(header) == token


def test_verify_token_when_missing_then_unauthenticated_token_missing():
    with pytest.raises(Unauthenticated) as err:
        verify_token(SECRET, "", expected_type="client")

    assert err.value.metadata == {"cause": "TOKEN_MISSING"}


class _Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def test_verifier_when_a_remembered_token_reaches_its_expiry_then_token_expired():
    clock = _Clock()
    token, issued = issue_token(SECRET, subject="1001", token_type="client", ttl=timedelta(hours=1))
    verifier = TokenVerifier(SECRET, "client", clock=clock)
    assert verifier.verify(token) == issued

    clock.now = issued.expires_at.timestamp() - 1
    assert verifier.verify(token) == issued  # remembered, still valid
    clock.now = issued.expires_at.timestamp()  # PyJWT: expired once now >= exp

    with pytest.raises(Unauthenticated) as err:
        verifier.verify(token)
    assert err.value.metadata == {"cause": "TOKEN_EXPIRED"}


def test_verifier_when_token_is_bad_then_refused_every_time_and_not_remembered():
    verifier = TokenVerifier(SECRET, "client")
    foreign, _ = issue_token(
        "another-secret-0123456789", subject="1", token_type="client", ttl=timedelta(hours=1)
    )
    admin, _ = issue_token(
        SECRET, subject="x", token_type="admin", ttl=timedelta(hours=1), role="SUPPORT"
    )
    for _ in range(2):
        with pytest.raises(Unauthenticated) as err:
            verifier.verify(foreign)
        assert err.value.metadata == {"cause": "TOKEN_INVALID"}
        with pytest.raises(Unauthenticated) as err:
            verifier.verify(admin)
        assert err.value.metadata == {"cause": "WRONG_TOKEN_TYPE"}


def test_verifier_when_more_tokens_than_its_size_then_it_keeps_its_size_and_verifies_each():
    verifier = TokenVerifier(SECRET, "client", size=2)
    tokens = [
        issue_token(SECRET, subject=str(n), token_type="client", ttl=timedelta(minutes=5))
        for n in range(3)
    ]
    for token, issued in tokens * 2:
        assert verifier.verify(token) == issued
        assert len(verifier) <= 2
