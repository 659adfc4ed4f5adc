"""Service settings, read once from the environment (prefix ``SYNCBRIDGE_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The development secret. Safe only on a developer machine; production refuses it.
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-change-me-0000000000000"


class Settings(BaseSettings):
    """Every setting of the service, validated together."""

    model_config = SettingsConfigDict(env_prefix="SYNCBRIDGE_", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./syncbridge.db",
        description="SQLAlchemy async URL; SQLite file in the working directory by default.",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_SECRET_KEY),
        description="Key material for encrypting connection secrets. Comma-separate several "
        "keys to rotate: the first encrypts, all decrypt.",
    )
    environment: Literal["development", "production"] = "development"
    allow_local_connections: bool = Field(
        default=False,
        description="Allow connection base URLs on loopback/private hosts (the sandbox only).",
    )
    sandbox_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host:port) that connections may reach although they "
        "are local: the sandbox's own simulators. `serve --sandbox` sets it; nothing else is "
        "let through.",
    )
    sandbox_folders: list[Path] = Field(
        default_factory=list,
        description="Folders the sandbox wrote for file-based connectors (local folder, CSV); "
        "they are permitted as connection roots besides SYNCBRIDGE_LOCAL_FOLDER_ROOTS. "
        "`serve --sandbox` sets it.",
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Request body cap.")
    upload_max_bytes: int = Field(
        default=256 * 1_048_576,
        ge=1024,
        le=1 << 40,
        description="Body cap of file uploads to a connection (CSV exports): streamed to disk, "
        "never held in memory.",
    )
    require_if_match: bool = Field(
        default=False,
        description="Refuse (428) PATCH and DELETE of editable resources sent without If-Match.",
    )
    page_size_max: int = Field(default=200, ge=1, le=1000)
    freeze_gc_at_start: bool = Field(
        default=True,
        description="After start-up, move every object then alive out of the garbage "
        "collector's view (gc.freeze), so collections stop re-scanning the long-lived heap "
        "of modules and schemas: that scan was the 99th-percentile latency of the API.",
    )
    run_worker_in_process: bool | None = Field(
        default=None,
        description="Run one job worker inside the API process (`serve`). Unset: on for a "
        "SQLite store (the embedded default), off otherwise (run `syncbridge worker`).",
    )
    worker_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Jobs one worker runs at once. Unset: 4 on PostgreSQL; always 1 on SQLite.",
    )
    worker_poll_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="How often an idle worker looks for jobs (PostgreSQL also wakes it at once "
        "with LISTEN/NOTIFY).",
    )
    worker_lease_s: float = Field(
        default=60.0,
        ge=1,
        le=86_400,
        description="How long a claimed job stays leased to its worker without renewal (it is "
        "renewed every third of it while the job runs).",
    )
    worker_grace_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="On SIGTERM/SIGINT, how long running jobs may finish before they are "
        "released back to the queue.",
    )
    job_modules: list[str] = Field(
        default_factory=list,
        description="Python modules (JSON list) whose register(registry) adds job handlers, "
        "besides installed `syncbridge.jobs` entry points.",
    )
    metrics_attribution: Literal["even", "full"] = Field(
        default="even",
        description="How a won deal's amount is credited to the assets its campaigns used "
        "(influenced_revenue): `even` splits it over the deal's live assets in each DAM "
        "connection, `full` credits each of them the whole amount. Facts keep the rule they "
        "were computed with.",
    )
    writeback_max_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Attempts a write-back gets on transient vendor errors before it is dead "
        "(with the vendor's message); a refused write is dead at once.",
    )
    writeback_retry_base_s: float = Field(
        default=30.0,
        gt=0,
        le=86_400,
        description="Backoff of a write-back retry: full jitter up to base * 2^(attempt-1).",
    )
    writeback_retry_max_s: float = Field(
        default=3600.0, gt=0, le=86_400, description="The longest backoff of a write-back."
    )
    writeback_batch: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description="Write-backs one connection's sender claims and sends at a time (one "
        "connector write: Cloudinary groups up to 1,000 public ids per tag call).",
    )
    writeback_reread_after_s: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="A write-back planned by a reconciliation run is sent, on its first "
        "attempt, from the store's copy of the asset instead of re-reading it when that copy "
        "was written from a vendor read less than this many seconds ago (and after the last "
        "confirmed write); 0 = always re-read. A retry always re-reads.",
    )
    public_url: str | None = Field(
        default=None,
        description="The URL vendors reach this service at (https://sync.example.com): webhook "
        "signatures that cover the URL (HubSpot v2 and v3) are checked against it. Unset: the "
        "URL the request arrived at.",
    )
    webhook_max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        le=64 * 1_048_576,
        description="Body cap of webhook deliveries (413 beyond it, counted on streamed bytes).",
    )
    inbox_debounce_s: float = Field(
        default=1.0,
        ge=0,
        le=3600,
        description="Seconds events wait before they are processed: a burst of updates of one "
        "object in that time costs one vendor fetch.",
    )
    inbox_batch: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Pending events of one connection handled per transaction.",
    )
    inbox_max_attempts: int = Field(
        default=8,
        ge=1,
        le=100,
        description="Failed processing attempts before an event is dead (replay it over REST).",
    )
    inbox_retention_hours: float = Field(
        default=168.0,
        ge=72.0,
        le=24 * 3650,
        description="Handled events are pruned after this many hours (at least 72: longer "
        "than the vendors' retry horizons, so a late retry is still recognised).",
    )
    scheduler_enabled: bool = Field(
        default=True,
        description="Run the scheduler's ticker in each worker process (`syncbridge worker`, "
        "and the API's in-process worker on SQLite); `syncbridge worker --no-scheduler` turns "
        "it off for one process. Every worker may tick: each slot runs once.",
    )
    schedule_timezone: str = Field(
        default="UTC",
        description="The IANA time zone the schedules are read in (`Europe/Paris`).",
    )
    schedule_reconcile: str = Field(
        default="0 2 * * *",
        description="When the reconciliation runs (crontab: minute hour day month weekday).",
    )
    schedule_sync_incremental: str = Field(
        default="*/15 * * * *",
        description="When an incremental sync of every enabled connection is queued (crontab).",
    )
    schedule_inbox_retention: str = Field(
        default="0 * * * *",
        description="When handled webhook events past their retention are pruned (crontab).",
    )
    schedule_catch_up_window_s: float = Field(
        default=6 * 3600.0,
        ge=0,
        le=31 * 86_400,
        description="A worker starting after a slot that no worker ran runs that slot if it is "
        "at most this old, and records it skipped otherwise.",
    )
    worker_heartbeat_s: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="How often a worker process records that it is alive (`/readyz` reads it).",
    )
    ready_heartbeat_max_age_s: float | None = Field(
        default=None,
        gt=0,
        le=86_400,
        description="`/readyz` fails when no worker beat for this long. Unset: three beats "
        "(3 x SYNCBRIDGE_WORKER_HEARTBEAT_S).",
    )
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("schedule_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("schedule_reconcile", "schedule_sync_incremental", "schedule_inbox_retention")
    @classmethod
    def _crontab(cls, value: str) -> str:
        from syncbridge.schedule.slots import cron_trigger

        try:
            cron_trigger(value, "UTC")
        except ValueError as exc:
            raise ValueError(f"not a crontab expression ({exc})") from exc
        return value

    @property
    def heartbeat_max_age_s(self) -> float:
        """How old the newest worker heartbeat may be while the service counts as ready."""
        return self.ready_heartbeat_max_age_s or 3 * self.worker_heartbeat_s

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production":
            # Every entry of a rotation list counts: any of them can decrypt the secrets.
            entries = [e.strip() for e in self.secret_key.get_secret_value().split(",")]
            if any(not e or e == DEVELOPMENT_SECRET_KEY or len(e) < 32 for e in entries):
                raise ValueError(
                    "SYNCBRIDGE_SECRET_KEY must be set in production, and each of its "
                    "comma-separated entries must be a random value of at least 32 characters"
                )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own ``Settings``)."""
    return Settings()
