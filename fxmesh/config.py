"""Typed configuration from ``FXMESH_*`` environment variables, validated at start.

Defaults describe the local profile (everything on loopback). A bad value stops the process with a
clear message and exit status 2 before anything else happens.
"""

from __future__ import annotations

import sys
from typing import Literal, TypeVar

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "change-me", "local-dev-secret-change-me"})


class Settings(BaseSettings):
    """Settings every service shares: infrastructure and the addresses of the other services."""

    model_config = SettingsConfigDict(env_prefix="FXMESH_", frozen=True, extra="ignore")

    profile: Literal["local", "test", "production"] = Field(
        "local", description="local and test allow demo secrets; production refuses them."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: console on a TTY, JSON otherwise."
    )
    postgres_dsn: str = Field("postgresql://postgres@127.0.0.1:5432/fxmesh")
    redis_url: str = Field("redis://127.0.0.1:6379/0")
    amqp_url: str = Field("amqp://guest:guest@127.0.0.1:5672/")
    events_exchange: str = Field(
        "fxmesh.events",
        description="Topic exchange for domain events (routing key: <kind>.<account>).",
    )
    otlp_endpoint: str | None = Field(
        None,
        description="OTLP/gRPC collector, e.g. http://127.0.0.1:4317; spans are not exported when unset.",
    )
    jwt_secret: str = Field(
        "local-dev-secret-change-me",
        min_length=16,
        description="HS256 key for client and admin tokens.",
    )

    oms_addr: str = Field("127.0.0.1:50051")
    router_addr: str = Field("127.0.0.1:50052")
    fixgw_addr: str = Field("127.0.0.1:50053")
    quotes_addr: str = Field("127.0.0.1:50054")
    admin_grpc_addr: str = Field("127.0.0.1:50055")

    metrics_addr: str = Field(
        "127.0.0.1",
        description="Interface for /metrics; 0.0.0.0 in a cluster so Prometheus can scrape pods.",
    )
    metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port of this process's /metrics (0: none); each service sets its own default.",
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


S = TypeVar("S", bound=Settings)


def load_settings(cls: type[S]) -> S:
    """Read settings from the environment, or exit with status 2 naming each bad variable."""
    try:
        return cls()
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        lines = [f"fxmesh: invalid configuration ({cls.__name__}):"]
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            var = f"{prefix}{where}".upper() if where else "(settings)"
            lines.append(f"  {var}: {err['msg']} (got {err.get('input')!r})")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
