"""Typed configuration from ``FXMESH_*`` environment variables, validated at start.

One naming rule: a setting every service shares (the fields of ``Settings``) is ``FXMESH_<NAME>``; a
setting only one service reads is ``FXMESH_<SERVICE>_<NAME>`` (``service_config``). Every variable
is listed in docs/configuration.md, generated from these classes (``python -m fxmesh.configdoc``).

Defaults describe the local profile (everything on loopback). A bad value stops the process with a
clear message and exit status 2 before anything else happens.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Literal, TypeVar

from pydantic import AliasChoices, AliasGenerator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "change-me", "local-dev-secret-change-me"})


class Settings(BaseSettings):
    """Settings every service shares: infrastructure and the addresses of the other services."""

    model_config = SettingsConfigDict(env_prefix="FXMESH_", frozen=True, extra="ignore")

    profile: Literal["local", "test", "production"] = Field(
        "local",
        description="local, test or production: local and test allow demo secrets, production "
        "refuses them.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level of log lines written."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: console on a TTY, JSON otherwise."
    )
    postgres_dsn: str = Field(
        "postgresql://postgres@127.0.0.1:5432/fxmesh",
        description="PostgreSQL database; each service owns its own schema in it.",
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis: client quotes, sessions, trigger levels."
    )
    amqp_url: str = Field(
        "amqp://guest:guest@127.0.0.1:5672/", description="RabbitMQ, for domain events."
    )
    events_exchange: str = Field(
        "fxmesh.events",
        description="Topic exchange for domain events (routing key: events.<account>[.trades]).",
    )
    otlp_endpoint: str | None = Field(
        None,
        description="OTLP/gRPC collector, e.g. http://127.0.0.1:4317; unset: spans are propagated "
        "(trace ids in logs) but neither recorded nor exported. Set on every service or none.",
    )
    jwt_secret: str = Field(
        "local-dev-secret-change-me",
        min_length=16,
        description="HS256 key for client and admin tokens.",
    )

    # A service listens on its own address and dials the others' (a pod sets its own to 0.0.0.0).
    oms_addr: str = Field("127.0.0.1:50051", description="host:port of oms's gRPC server.")
    router_addr: str = Field(
        "127.0.0.1:50052", description="host:port of the router's gRPC server."
    )
    fixgw_addr: str = Field("127.0.0.1:50053", description="host:port of fixgw's gRPC server.")
    quotes_addr: str = Field("127.0.0.1:50054", description="host:port of quotes's gRPC server.")
    admin_grpc_addr: str = Field("127.0.0.1:50055", description="host:port of admin's gRPC server.")
    edge_http_addr: str = Field(
        "127.0.0.1:8080",
        description="host:port of edge's REST/WebSocket listener (its /metrics too); admin asks "
        "its /readyz for system health.",
    )
    run_dir: str = Field(
        ".run",
        description="Directory of working files: QuickFIX stores and logs of fixgw and the LP "
        "simulator, the local stack's logs.",
    )

    metrics_addr: str = Field(
        "127.0.0.1",
        description="Interface for /metrics; 0.0.0.0 in a cluster so Prometheus can scrape pods.",
    )
    metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port of this process's /metrics (0: none); each service sets its own "
        "default, edge and admin serve /metrics on their HTTP port instead.",
    )

    grpc_deadline_seconds: float = Field(
        5.0, gt=0, description="Deadline on every inter-service unary call."
    )
    shutdown_grace_seconds: float = Field(
        5.0, ge=0, description="How long in-flight RPCs may finish after SIGTERM."
    )

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> Settings:
        if self.profile == "production" and self.jwt_secret in PLACEHOLDER_SECRETS:
            raise ValueError("FXMESH_JWT_SECRET must be set to a real secret in production")
        return self


def service_config(service: str) -> SettingsConfigDict:
    """The ``model_config`` of a service's settings class: its own are ``FXMESH_<SERVICE>_<NAME>``.

    A field the shared ``Settings`` declares keeps ``FXMESH_<NAME>``, even where the service
    changes its default (``metrics_port``). A field named after the service already
    (``oms_max_in_flight``) is read as it always was. Any other (oms's ``outbox_poll_seconds``) is
    read from ``FXMESH_OMS_OUTBOX_POLL_SECONDS`` first, then from its name before the rule,
    ``FXMESH_<FIELD>``, so deployments that still set that keep working. Python code and tests
    keep using the field names.
    """
    own_prefix = f"{service}_"

    def variables(field: str) -> str | AliasChoices:
        name = f"FXMESH_{field}".upper()
        if field in Settings.model_fields or field.startswith(own_prefix):
            return name
        return AliasChoices(f"FXMESH_{own_prefix}{field}".upper(), name)

    return SettingsConfigDict(
        alias_generator=AliasGenerator(validation_alias=variables), validate_by_name=True
    )


def variable_names(cls: type[Settings], field: str) -> tuple[str, ...]:
    """The environment variables ``field`` of ``cls`` is read from: its name, then any old name."""
    alias = cls.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(str(choice) for choice in alias.choices)
    if isinstance(alias, str):
        return (alias,)
    return (f"{cls.model_config.get('env_prefix', '')}{field}".upper(),)


S = TypeVar("S", bound=Settings)


def load_settings(cls: type[S]) -> S:
    """Read settings from the environment, or exit with status 2 naming each bad variable."""
    try:
        settings = cls()
    except ValidationError as exc:
        lines = [f"fxmesh: invalid configuration ({cls.__name__}):"]
        for err in exc.errors():
            var = _variable_at(cls, err["loc"])
            lines.append(f"  {var}: {err['msg']} (got {err.get('input')!r})")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
    for field in cls.model_fields:
        name, *old_names = variable_names(cls, field)
        # Only a notice: the old name still works, but one day it will not.
        for old in (o for o in old_names if o in os.environ):
            print(f"fxmesh: {old} is now named {name}; please rename it", file=sys.stderr)
    return settings


def _variable_at(cls: type[Settings], loc: Sequence[str | int]) -> str:
    """The variable a validation error points at (its location is a field name or an alias)."""
    if not loc:
        return "(settings)"
    head, *rest = (str(part) for part in loc)
    if head in cls.model_fields:
        head = variable_names(cls, head)[0]
    return ".".join([head, *rest]).upper()
