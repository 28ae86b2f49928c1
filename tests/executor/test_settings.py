"""Connection settings: precedence, validation naming the setting to fix, no secret in repr."""

from __future__ import annotations

import pytest

from exportspec.errors import ConfigError
from exportspec.run.settings import (
    DEFAULT_BASE_URL,
    ConnectionFlags,
    Settings,
    SettingsLayer,
    resolve_settings,
)

CREDS = {"EXPORTSPEC_API_KEY_ID": "kid", "EXPORTSPEC_API_SECRET": "hush-hush"}


def resolve(
    flags: ConnectionFlags | None = None,
    *,
    env: dict[str, str] | None = None,
    project_defaults: SettingsLayer | None = None,
    pinned: SettingsLayer | None = None,
) -> Settings:
    environ = {"EXPORTSPEC_PROJECT_TOKEN": "envtok", **CREDS, **(env or {})}
    return resolve_settings(
        flags or ConnectionFlags(),
        environ=environ,
        project_defaults=project_defaults,
        pinned=pinned,
    )


def test_defaults() -> None:
    settings = resolve()
    assert settings.base_url == DEFAULT_BASE_URL
    assert settings.export_url == f"{DEFAULT_BASE_URL}/data/v2/projects/envtok/customers/export"
    assert (settings.connect_timeout, settings.read_timeout, settings.retries) == (10, 600, 4)
    assert settings.deadline is None


def test_precedence_flag_over_pinned_over_env_over_project_defaults() -> None:
    project = SettingsLayer(
        "exportspec.toml", {"base_url": "https://proj.example", "project_token": "p"}
    )
    pinned = SettingsLayer("record", {"base_url": "https://rec.example"})
    env = {"EXPORTSPEC_BASE_URL": "https://env.example"}
    assert resolve(project_defaults=project).base_url == "https://proj.example"
    assert resolve(project_defaults=project, env=env).base_url == "https://env.example"
    assert (
        resolve(project_defaults=project, env=env, pinned=pinned).base_url == "https://rec.example"
    )
    flags = ConnectionFlags(base_url="https://flag.example/")
    assert resolve(flags, project_defaults=project, env=env, pinned=pinned).base_url == (
        "https://flag.example"
    )
    assert resolve(project_defaults=project).project_token == "envtok"  # env beats the project


def test_numbers_from_flags_and_env() -> None:
    env = {"EXPORTSPEC_TIMEOUT": "30", "EXPORTSPEC_RETRIES": "2", "EXPORTSPEC_DEADLINE": "99"}
    settings = resolve(ConnectionFlags(timeout=5.0), env=env)
    assert (settings.read_timeout, settings.retries, settings.deadline) == (5.0, 2, 99.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EXPORTSPEC_TIMEOUT", "soon"),
        ("EXPORTSPEC_TIMEOUT", "0"),
        ("EXPORTSPEC_RETRIES", "-1"),
        ("EXPORTSPEC_RETRIES", "2.5"),
        ("EXPORTSPEC_BACKOFF_FACTOR", "nan"),
        ("EXPORTSPEC_TIMEOUT", "inf"),
        ("EXPORTSPEC_DEADLINE", "1e300"),
        ("EXPORTSPEC_CONNECT_TIMEOUT", "9999999999"),
        ("EXPORTSPEC_RETRIES", "1000000"),
        ("EXPORTSPEC_RETRY_AFTER_MAX", "-inf"),
    ],
)
def test_bad_numbers_in_env_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        resolve(env={name: value})


def test_missing_token_names_flag_and_variable() -> None:
    with pytest.raises(ConfigError, match="--project-token or set EXPORTSPEC_PROJECT_TOKEN"):
        resolve_settings(ConnectionFlags(), environ=CREDS)


@pytest.mark.parametrize("missing", ["EXPORTSPEC_API_KEY_ID", "EXPORTSPEC_API_SECRET"])
def test_missing_credentials_name_the_variable(missing: str) -> None:
    environ = {k: v for k, v in CREDS.items() if k != missing}
    with pytest.raises(ConfigError, match=f"no API credentials: set {missing}"):
        resolve_settings(ConnectionFlags(project_token="t"), environ=environ)


def test_dry_run_needs_neither_token_nor_credentials() -> None:
    settings = resolve_settings(
        ConnectionFlags(), environ={}, require_token=False, require_credentials=False
    )
    assert settings.export_url.endswith("/projects/$EXPORTSPEC_PROJECT_TOKEN/customers/export")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://api.example", "not an http(s) URL"),
        ("api.exponea.com", "not an http(s) URL"),
        ("https://", "not an http(s) URL"),
        ("https://api.example:99999", "invalid port"),
        ("http://127.0.0.1:", "invalid port"),
        ("https://bad host", "invalid host"),
        ("https://api.example/?x=1", "query or fragment"),
        ("http://api.exponea.com", "plain http:// to a non-loopback host"),
        ("http://10.0.0.1:8080", "plain http:// to a non-loopback host"),
    ],
)
def test_bad_base_urls_are_config_errors_naming_the_source(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match="EXPORTSPEC_BASE_URL") as caught:
        resolve(env={"EXPORTSPEC_BASE_URL": url})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost", "http://[::1]:9", "http://127.9.9.9"]
)
def test_plain_http_is_fine_on_loopback(url: str) -> None:
    assert resolve(ConnectionFlags(base_url=url)).base_url == url


@pytest.mark.parametrize(
    "url",
    ["https://kid:hush-hush@api.example", "kid:hush-hush@api.example", "ftp://kid:hush-hush@x"],
)
def test_credentials_in_the_url_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(ConnectionFlags(base_url=url))
    assert "hush-hush" not in str(caught.value)
    assert "--base-url" in str(caught.value)


@pytest.mark.parametrize("token", ["", "a/b", "tok en", "x?y", ".", "..", "..."])
def test_bad_project_token(token: str) -> None:
    with pytest.raises(ConfigError, match="--project-token"):
        resolve(ConnectionFlags(project_token=token))


@pytest.mark.parametrize(
    ("name", "value"),
    [("EXPORTSPEC_API_KEY_ID", "a:b"), ("EXPORTSPEC_API_SECRET", "with space"),
     ("EXPORTSPEC_API_SECRET", "trailing\n")],
)  # fmt: skip
def test_malformed_credentials_are_named_not_echoed(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name) as caught:
        resolve(env={name: value})
    assert value not in str(caught.value)


def test_secret_is_not_in_repr() -> None:
    settings = resolve()
    assert "hush-hush" not in repr(settings)
    assert "kid" not in repr(settings)


def test_the_sandbox_public_credentials_are_not_masked() -> None:
    from exportspec.run.client import ExportClient

    public = resolve_settings(
        ConnectionFlags(project_token="sandbox"), environ={}, credentials=("sandbox", "sandbox")
    )
    assert ExportClient(public).scrub("injected by sandbox --fail 503") == (
        "injected by sandbox --fail 503"
    )
    private = resolve_settings(ConnectionFlags(project_token="t"), environ=CREDS)
    secret = CREDS["EXPORTSPEC_API_SECRET"]
    assert ExportClient(private).scrub(f"echo {secret}") == "echo ***"


def test_the_published_sandbox_pair_from_the_environment_is_not_masked() -> None:
    """`exportspec sandbox` on a port, its credentials exported: its messages stay readable."""
    from exportspec.run.client import ExportClient
    from exportspec.sandbox import Credentials

    published = Credentials()
    env = {"EXPORTSPEC_API_KEY_ID": published.api_key_id,
           "EXPORTSPEC_API_SECRET": published.api_secret}  # fmt: skip
    settings = resolve_settings(ConnectionFlags(project_token="sandbox"), environ=env)
    assert ExportClient(settings).scrub("injected by sandbox --fail 503") == (
        "injected by sandbox --fail 503"
    )


@pytest.mark.parametrize("gap", ["\n", "\r\n", "\x1b", "\t", " ", "\x00"])
def test_a_secret_split_by_the_server_is_still_masked(gap: str) -> None:
    from exportspec.run.client import ExportClient

    settings = resolve_settings(ConnectionFlags(project_token="t"), environ=CREDS)
    secret = CREDS["EXPORTSPEC_API_SECRET"]
    split = secret[:3] + gap + secret[3:]
    assert ExportClient(settings).scrub(f"bad secret {split}!") == "bad secret ***!"
