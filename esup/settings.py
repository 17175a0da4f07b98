"""One frozen settings object for every address, port, topic, database and credential (ESUP_* and .env)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    """./.esup in the working directory: a checkout and an empty folder alike (never inside site-packages)."""
    return Path.cwd() / ".esup"


class Settings(BaseSettings):
    """Read once with :func:`load_settings`; every field is overridable as ``ESUP_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="ESUP_", env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    environment: Literal["development", "test", "production"] = "development"

    # ---- local stack (esup/stack/templates): where state and logs live, which binaries to run -----------------
    # ESUP_HOME: state, logs and jars of the local stack and the services; made absolute at load, so
    # processes started from elsewhere (services, the wheel check) agree on it.
    home: Path = Field(default_factory=default_home, description="state, logs and jars of the local stack")
    java: str = "java"
    mvn: str = "mvn"
    clickhouse_server_bin: str = "clickhouse-server"
    min_free_disk_mb: int = Field(default=512, ge=0, description="refuse to start below this much free disk")
    start_timeout_s: float = Field(default=90.0, gt=0)

    # ---- Kafka ------------------------------------------------------------------------------------------
    kafka_version: str = Field(default="3.9.1", pattern=r"^\d+\.\d+\.\d+$")
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    kafka_heap: str = Field(default="768m", pattern=r"^\d+[kmg]$")
    # Empty means the local broker on kafka_port; set it to use any other cluster.
    kafka_bootstrap_servers: str = ""
    # How clients log in (esup/kafka_auth.py): each process as its own principal, from a 0600 file in
    # kafka_credentials_path (default <home>/credentials/kafka); SASL_SSL checks the broker against the CA.
    # SASL_PLAINTEXT by default (the local stack's loopback listener); PLAINTEXT only for a broker without logins.
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "SASL_PLAINTEXT"
    kafka_credentials_path: Path | None = None
    kafka_ssl_cafile: Path | None = None

    topic_case_events: str = "esup.case-events"
    # Each department system writes its own topic <prefix><department id> (its principal may write no
    # other); the bridge checks each event names that department and forwards it to topic_case_events.
    topic_ingest_prefix: str = "esup.ingest."
    topic_dead_letters: str = "esup.dead-letters"
    topic_findings: str = "esup.findings"
    topic_case_snapshots: str = "esup.case-snapshots"
    topic_catalog: str = "esup.catalog"
    # Adopted rules and calendars (`esup rules adopt`), keyed by kind and effective moment (compacted: every
    # adoption stays); the workers follow it and switch at each moment (docs/whatif.md).
    topic_config: str = "esup.config"
    # The head of each worker partition's findings chain (compacted; only workers write it): what
    # `esup verify` checks ClickHouse's copy of the chain against.
    topic_chain_heads: str = "esup.chain-heads"
    # The sweeper's wake-up messages, one per partition of case events (so it has the same count).
    topic_ticks: str = "esup.ticks"
    # Applications and withdrawals keyed by (applicant, item), written by the workers in their case-events
    # transactions and read back by the worker owning the same partition number (same count as case events):
    # the cross-case withdraw-and-reapply check (streams/rules/reapply.py).
    topic_applicant_facts: str = "esup.applicant-facts"
    # The loop (docs/loop.md): responses, decisions and reports keyed by finding id; the API's audit records.
    topic_responses: str = "esup.responses"
    # The loop's event-clock ticks (`esup loop simulate --until`), written by the clock's principal only.
    topic_loop_ticks: str = "esup.loop-ticks"
    # The complaint service's event-clock ticks (`esup complaints simulate --until`), likewise the clock's only.
    topic_complaint_ticks: str = "esup.complaint-ticks"
    # The audit trail: each writing principal has a topic of its own, `<topic_audit>.<name>`
    # (esup/audit_writers.py); this one, shared by every writer before, is kept for its history and read only.
    topic_audit: str = "esup.audit"
    # Complaints from the public (docs/complaints.md), keyed by complaint id; the complainant only sealed.
    topic_complaints: str = "esup.complaints"
    # Case events are keyed by case id; findings and snapshots use the same count so they stay co-partitioned.
    case_events_partitions: int = Field(default=6, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1, le=10)
    # Long enough to replay a year of cases after a rule change; ClickHouse keeps the archive.
    case_events_retention_days: int = Field(default=400, ge=1)

    # ---- ingestion (gateway/): the bridge from the departments' topics, and the HTTP gateway ----------------
    bridge_group: str = "esup-bridge"
    gateway_port: int = Field(default=8090, ge=1, le=65535)
    # A POST body past this is refused (413) whether or not it declares its length.
    gateway_max_body_bytes: int = Field(default=4 << 20, ge=1024)
    # Per department (token bucket): requests per second sustained, and the burst allowed above that.
    gateway_rate_per_s: float = Field(default=20.0, gt=0)
    gateway_burst: int = Field(default=40, ge=1)
    # The departments' token hashes (argon2id), 0600; default <home>/credentials/gateway/tokens.json.
    gateway_tokens_path: Path | None = None

    # ---- complaint intake (complaints/intake.py, mounted by `esup api serve`) ---------------------------------
    # The public form, per source address: a burst, then this many an hour (every POST counts, bad ones too).
    complaints_form_per_hour: int = Field(default=10, ge=1)
    # A 12345 hotline system, per token: requests per second sustained and the burst above that.
    complaints_hotline_rate_per_s: float = Field(default=5.0, gt=0)
    complaints_hotline_burst: int = Field(default=20, ge=1)
    # A form or a hotline body past this is refused (413): 2,000 Chinese characters URL-encoded are ~18 KB.
    complaints_max_body_bytes: int = Field(default=32 << 10, ge=1024)

    # ---- workers (streams.app) -----------------------------------------------------------------------------
    worker_app_id: str = "esup-worker"
    # Static group membership (Kafka's group.instance.id): a stable name per worker (one per host or pod,
    # unique in the group). A worker restarted under the same name — planned, or after kill -9 — gets its
    # partitions straight back instead of waiting out its old session and a rebalance; a worker that
    # stops for good keeps its partitions until the session times out (10 s). None: dynamic membership.
    worker_instance: str | None = Field(default=None, min_length=1, max_length=200)
    # A worker asked to stop (SIGTERM) ends within this many seconds even if Kafka does not answer.
    shutdown_grace_s: float = Field(default=15.0, gt=0)
    sweep_interval_s: float = Field(default=1.0, gt=0)
    # Deadlines bunch at 24:00: this long before one, a wall-clock worker computes what will fire, so that
    # at the deadline it only checks each case is unchanged and publishes. 0 turns arming off.
    sweep_arm_ahead_s: float = Field(default=30.0, ge=0)
    # Shifts a wall-clock worker's notion of now by this many seconds: for drills and benchmarks (e.g. to
    # bring the next end of a working day, when deadlines fall, into the next minute). 0 in production.
    clock_offset_s: float = 0.0
    # How far an event's time (or a tick's) may run ahead of the broker's receipt before it is flagged
    # (DQ_AHEAD_OF_RECEIPT) and kept from moving the event clock; clocks of department systems drift.
    event_time_tolerance_s: float = Field(default=300.0, ge=0)
    # A worker takes up to this many messages at once and writes each case they change once; it waits at
    # most worker_batch_wait_s for a batch to fill, which bounds the latency batching adds.
    worker_batch_max: int = Field(default=1000, ge=1)
    worker_batch_wait_s: float = Field(default=0.02, gt=0)
    # Decoded case states kept in memory per worker (least recently written evicted; ~5-10 KB each); the
    # table is the truth. Saves decoding a row when a case changes again soon (25 % of a replay's cost).
    worker_state_cache: int = Field(default=20_000, ge=0)

    # ---- ClickHouse sink (sinks.runner) ---------------------------------------------------------------------
    sink_group: str = "esup-sink"
    # A batch is written when it holds sink_max_rows rows or its first row has waited sink_max_wait_s. Each
    # insert is a part ClickHouse merges later: 0.25 s is at most four inserts per table per second per sink
    # (each ~5-20 ms here), which merges absorb, and it keeps a finding queryable within ~1 s of its event
    # at steady load (docs/performance.md, latency); a bulk load fills sink_max_rows long before the wait.
    sink_max_rows: int = Field(default=5000, ge=1, le=1_000_000)
    sink_max_wait_s: float = Field(default=0.25, gt=0)
    # While ClickHouse is down: retry after 0.5 s, doubling up to this cap.
    sink_retry_max_s: float = Field(default=10.0, gt=0)

    # ---- organisation directory and notifier (directory/, notifier/; routing in esup/config/notifier.yaml) ------
    topic_directory: str = "esup.directory"
    notifier_group: str = "esup-notifier"
    # The webhook's HMAC key and the SMTP password; the YAML may name a 0600 file for the key instead.
    notifier_webhook_secret: SecretStr = SecretStr("")
    notifier_smtp_password: SecretStr = SecretStr("")

    # ---- ClickHouse -------------------------------------------------------------------------------------
    clickhouse_host: str = "127.0.0.1"
    clickhouse_port: int = Field(default=9000, ge=1, le=65535)
    clickhouse_http_port: int = Field(default=8123, ge=1, le=65535)
    clickhouse_user: str = Field(default="default", pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    clickhouse_password: SecretStr = SecretStr("")
    clickhouse_database: str = Field(default="esup", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # Each process logs in as its role's user (esup/clickhouse_auth.py) with the password in
    # <this>/<user>.password (0600; default <home>/credentials/clickhouse), unless USER/PASSWORD are set.
    clickhouse_credentials_path: Path | None = None
    # A replicated deployment (docs/operations.md): the other replicas a client fails over to
    # ("host:port,host:port"), and the cluster name that makes migrations write the cluster form
    # (Replicated*MergeTree tables named <table>_local behind Distributed tables named <table>, ON CLUSTER).
    clickhouse_alt_hosts: str = Field(default="", pattern=r"^([A-Za-z0-9_.:-]+(,[A-Za-z0-9_.:-]+)*)?$")
    clickhouse_cluster: str = Field(default="", pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$")

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @model_validator(mode="after")
    def _no_default_secrets_outside_development(self) -> Settings:
        # In production every ClickHouse login has a password: given, or each role's file (esup/clickhouse_auth.py).
        if (
            self.environment == "production"
            and not self.clickhouse_password.get_secret_value()
            and self.clickhouse_credentials_path is None
        ):
            raise ValueError(
                "ESUP_CLICKHOUSE_PASSWORD must be set when ESUP_ENVIRONMENT=production "
                "(or ESUP_CLICKHOUSE_CREDENTIALS_PATH, the directory of each role's password file)"
            )
        ports = [self.kafka_port, self.kafka_controller_port, self.clickhouse_port, self.clickhouse_http_port]
        if len(set(ports)) != len(ports):
            raise ValueError(f"the local stack's ports must differ, got {ports}")
        if self.kafka_security_protocol == "SASL_SSL" and self.kafka_ssl_cafile is None:
            # The local stack's CA (esup/stack/tls.py); another cluster names its own with ESUP_KAFKA_SSL_CAFILE.
            object.__setattr__(self, "kafka_ssl_cafile", self.home / "tls" / "ca.pem")
        return self

    @property
    def kafka_credentials_dir(self) -> Path:
        """Where the Kafka SCRAM credentials files are (ESUP_KAFKA_CREDENTIALS_PATH, else <home>/credentials/kafka)."""
        return self.kafka_credentials_path or self.home / "credentials" / "kafka"

    @property
    def clickhouse_credentials_dir(self) -> Path:
        """The ClickHouse passwords' directory: ESUP_CLICKHOUSE_CREDENTIALS_PATH, else <home>/credentials/clickhouse."""
        return self.clickhouse_credentials_path or self.home / "credentials" / "clickhouse"

    @property
    def gateway_tokens_file(self) -> Path:
        """The gateway's tokens file (ESUP_GATEWAY_TOKENS_PATH, else <home>/credentials/gateway/tokens.json)."""
        return self.gateway_tokens_path or self.home / "credentials" / "gateway" / "tokens.json"

    @property
    def kafka_bootstrap(self) -> str:
        """Where Kafka clients connect."""
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    def clickhouse_login(self, role: str | None = None) -> tuple[str, str]:
        """(user, password) of a role ("admin", "sink", "service", "reader"); None: the configured user."""
        if role is None:
            return self.clickhouse_user, self.clickhouse_password.get_secret_value()
        from esup.clickhouse_auth import ROLES, login

        if role not in ROLES:
            raise ValueError(f"unknown ClickHouse role {role!r}; known: {', '.join(ROLES)}")
        return login(self, role)

    def clickhouse_url(self, database: str | None = None, role: str | None = None) -> str:
        """A clickhouse-driver URL as a role's user (it carries the password: never log it)."""
        name, secret = self.clickhouse_login(role)
        user = quote(name, safe="")
        password = quote(secret, safe="")
        auth = f"{user}:{password}@" if password else f"{user}@"
        where = f"{self.clickhouse_host}:{self.clickhouse_port}/{database or self.clickhouse_database}"
        return f"clickhouse://{auth}{where}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and .env, with keyword overrides on top (tests, CLI options)."""
    return Settings(**overrides)
