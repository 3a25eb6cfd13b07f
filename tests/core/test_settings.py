"""Settings come from the environment into one nested object; a bad value stops start-up with a message
that names the variable to fix, and secrets never show in a repr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
ALIASES = ("DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "PORT")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: no V1TR0_* or alias variable from the shell that runs the suite."""
    for name in list(os.environ):
        if name.startswith("V1TR0_") or name in ALIASES:
            monkeypatch.delenv(name)


def settings_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    return str(caught.value)


def test_defaults() -> None:
    settings = load_settings()

    assert settings.environment == "development"
    assert settings.data_dir == Path(".v1tr0")
    assert (settings.database_url, settings.redis_url) == (None, None)
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.auth.secret_key is None
    assert settings.auth.access_token_ttl == 900
    assert settings.http.cors_origins == ["http://localhost:3000"]
    assert settings.http.max_body_bytes == 8 * 1024 * 1024
    assert settings.redis.embedded_port is None  # a free port, kept per data dir
    assert settings.embedding.provider == "e5"
    assert (settings.ingestion.chunk_tokens, settings.ingestion.chunk_overlap) == (400, 60)
    assert settings.openai.api_key is None
    assert not settings.openai_configured
    assert settings.tracing.enabled is False
    assert (settings.llm.enabled, settings.llm.model, settings.llm.answers) == (
        False,
        "qwen2.5-coder-1.5b",
        False,
    )
    assert (settings.tracing.service_name, settings.tracing.sample_ratio) == ("v1tr0", 1.0)


def test_nested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("V1TR0_AUTH__ACCESS_TOKEN_TTL", "60")
    monkeypatch.setenv("V1TR0_HTTP__CORS_ORIGINS", "a,b")
    monkeypatch.setenv("V1TR0_AUTH__ADMIN_EMAILS", "Boss@Example.com, ops@example.com")
    monkeypatch.setenv("V1TR0_EMBEDDING__PROVIDER", "static")
    monkeypatch.setenv("V1TR0_DATA_DIR", "/srv/v1tr0")
    monkeypatch.setenv("V1TR0_TRACING__ENABLED", "true")
    monkeypatch.setenv("V1TR0_TRACING__ENDPOINT", "http://collector:4318/v1/traces")

    settings = load_settings()

    assert settings.auth.access_token_ttl == 60
    assert settings.http.cors_origins == ["a", "b"]
    assert settings.auth.admin_emails == ["boss@example.com", "ops@example.com"]
    assert settings.embedding.provider == "static"
    assert settings.data_dir == Path("/srv/v1tr0")
    assert settings.tracing.enabled is True
    assert settings.tracing.endpoint == "http://collector:4318/v1/traces"


def test_usual_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.internal/v1tr0")
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/2")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    monkeypatch.setenv("PORT", "9000")

    settings = load_settings()

    assert settings.database_url == "postgresql://app@db.internal/v1tr0"
    assert settings.redis_url == "redis://cache.internal:6379/2"
    assert settings.port == 9000
    assert settings.openai.api_key is not None
    assert settings.openai.api_key.get_secret_value() == "sk-test-123"
    assert settings.openai_configured


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"V1TR0_AUTH__ACCESS_TOKEN_TTL": "abc"}, "V1TR0_AUTH__ACCESS_TOKEN_TTL"),
        ({"PORT": "70000"}, "PORT"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL"),
        ({"V1TR0_INGESTION__CHUNK_OVERLAP": "400"}, "V1TR0_INGESTION__CHUNK_OVERLAP"),
        (
            {"V1TR0_INGESTION__CHUNK_TOKENS": "100", "V1TR0_INGESTION__CHUNK_OVERLAP": "150"},
            "V1TR0_INGESTION__CHUNK_OVERLAP",
        ),
        ({"V1TR0_INGESTION__CHUNK_TOKENS": "50"}, "V1TR0_INGESTION__CHUNK_OVERLAP"),
        ({"V1TR0_ENVIRONMENT": "production"}, "V1TR0_AUTH__SECRET_KEY"),
        ({"V1TR0_LOG__LEVEL": "LOUD"}, "V1TR0_LOG__LEVEL"),
        ({"V1TR0_EMBEDDING__PROVIDER": "word2vec"}, "V1TR0_EMBEDDING__PROVIDER"),
        ({"V1TR0_TRACING__SAMPLE_RATIO": "1.5"}, "V1TR0_TRACING__SAMPLE_RATIO"),
        ({"V1TR0_TRACING__ENDPOINT": "collector:4318"}, "V1TR0_TRACING__ENDPOINT"),
        ({"V1TR0_LLM__BASE_URL": "127.0.0.1:8081/v1"}, "V1TR0_LLM__BASE_URL"),
        ({"V1TR0_LLM__THREADS": "0"}, "V1TR0_LLM__THREADS"),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str
) -> None:
    message = settings_error(monkeypatch, **env)

    assert variable in message


def test_every_invalid_variable_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, PORT="0", V1TR0_AUTH__ACCESS_TOKEN_TTL="abc")

    assert "PORT" in message
    assert "V1TR0_AUTH__ACCESS_TOKEN_TTL" in message


def test_production_with_a_secret_key_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("V1TR0_ENVIRONMENT", "production")
    monkeypatch.setenv("V1TR0_AUTH__SECRET_KEY", "a-production-secret")

    assert load_settings().token_secret() == "a-production-secret"


def test_an_invalid_url_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A URL may carry a password: the message names the variable, never the value."""
    message = settings_error(monkeypatch, DATABASE_URL="mysql://app:hunter2@db/v1tr0")

    assert "DATABASE_URL" in message
    assert "hunter2" not in message


def test_secrets_are_secret_str_and_hidden_from_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("V1TR0_AUTH__SECRET_KEY", "very-secret-signing-key")
    monkeypatch.setenv("V1TR0_AUTH__SUPABASE_JWT_SECRET", "supabase-jwt-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    monkeypatch.setenv("V1TR0_JITSI__APP_SECRET", "jitsi-app-secret")

    settings = load_settings()
    secrets = [
        settings.auth.secret_key,
        settings.auth.supabase_jwt_secret,
        settings.openai_api_key,
        settings.openai.api_key,
        settings.jitsi.app_secret,
    ]

    assert all(isinstance(secret, SecretStr) for secret in secrets)
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for value in ("very-secret-signing-key", "supabase-jwt-secret", "sk-openai-secret", "jitsi-app-secret"):
        assert value not in shown
    assert settings.auth.secret_key is not None
    assert settings.auth.secret_key.get_secret_value() == "very-secret-signing-key"


def test_settings_can_be_built_in_code() -> None:
    settings = Settings(environment="test", http={"cors_origins": "x,y"}, port=8123)

    assert settings.http.cors_origins == ["x", "y"]
    assert settings.port == 8123


def test_the_cli_stops_on_an_invalid_setting(tmp_path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("V1TR0_") and name not in ALIASES
    }
    env.update({"V1TR0_DATA_DIR": str(tmp_path / "data"), "V1TR0_AUTH__ACCESS_TOKEN_TTL": "abc"})

    result = subprocess.run(
        [sys.executable, "-m", "v1tr0", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2, result.stderr
    assert "V1TR0_AUTH__ACCESS_TOKEN_TTL" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was started


def test_a_rate_limit_variable_sets_one_number_and_keeps_that_limits_other_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = load_settings().limits
    monkeypatch.setenv("V1TR0_LIMITS__INSIGHTS__PER_USER", "7")
    monkeypatch.setenv("V1TR0_LIMITS__UPLOADS__WINDOW", "600")
    limits = load_settings().limits
    assert limits.insights.model_dump() == {**defaults.insights.model_dump(), "per_user": 7}
    assert limits.insights.per_project == 120  # the insights default, not the generic one
    assert limits.uploads.model_dump() == {**defaults.uploads.model_dump(), "window": 600}
    assert limits.search == defaults.search


def test_an_invalid_rate_limit_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, V1TR0_LIMITS__REGISTRATION__PER_IP="0")
    assert "V1TR0_LIMITS__REGISTRATION__PER_IP" in message
