"""`diag.report.redact`: no secret reaches any output, innocent text passes untouched."""

from __future__ import annotations

import pytest

from diag.report.redact import MASK, Redactor, secret_values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://app:hunter2@db:5432/shop", "postgres://app:***@db:5432/shop"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        (
            "DATABASE_URL=mysql+pymysql://root:toor@mysql/app ok",
            "DATABASE_URL=mysql+pymysql://root:***@mysql/app ok",
        ),
        (
            "fetch https://ci:tok3n@git.example/r.git failed",
            "fetch https://ci:***@git.example/r.git failed",
        ),
    ],
)
def test_url_credentials_masked(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PASSWORD=hunter2", "PASSWORD=***"),
        ("POSTGRES_PASSWORD=hunter2 started", "POSTGRES_PASSWORD=*** started"),
        ("db_passwd: hunter2, user: app", "db_passwd: ***, user: app"),
        ("API_KEY = abc123;retry=3", "API_KEY = ***;retry=3"),
        ("login failed secret=xyz789 token:abcd", "login failed secret=*** token:***"),
        ("MYSQL_ROOT_PWD=toor", "MYSQL_ROOT_PWD=***"),
    ],
)
def test_secret_pairs_masked(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


def test_known_secret_values_masked_anywhere() -> None:
    redactor = Redactor(["s3cr3t-value", "s3cr3t"])
    assert redactor.text("auth with s3cr3t-value then s3cr3t.") == "auth with *** then ***."
    assert "s3cr3t" not in redactor.text("xs3cr3t-valuex")


@pytest.mark.parametrize(
    "text",
    [
        "GET /health 200 in 3ms; host=db port=5432",
        "web listens on 127.0.0.1:8000 only; peers on shop_back get connection refused",
        "connect 10.213.200.4:8080 refused (from a peer on ddiag-unitrec_back)",
        "http://user@host/path and http://api:8000/v1",
        "Bind the server to 0.0.0.0 (or ::), e.g. `--host 0.0.0.0` / `--bind 0.0.0.0:8000`.",
        "mode=ro key_size=2048 retries=3",
        "",
    ],
)
def test_innocent_text_unchanged(text: str) -> None:
    assert Redactor(["hunter2"]).text(text) == text


def test_value_walks_nested_structures() -> None:
    redactor = Redactor(["hunter2"])
    evidence = {
        "probe": "connect as PASSWORD=x1y2z3",
        "last_logs": ["boot", "db pass hunter2 rejected"],
        "nested": {"url": "amqp://guest:guest@mq/"},
        "restarts": 3,
        "ok": None,
    }
    assert redactor.value(evidence) == {
        "probe": "connect as PASSWORD=***",
        "last_logs": ["boot", "db pass *** rejected"],
        "nested": {"url": "amqp://guest:***@mq/"},
        "restarts": 3,
        "ok": None,
    }
    assert redactor.value(("a", "hunter2")) == ["a", MASK]


def test_secret_values_from_env() -> None:
    envs = [
        {"DB_PASSWORD": "hunter2", "HOME": "/root", "API_TOKEN": "abc", "LANG": "C.UTF-8"},
        {"GITHUB_TOKEN": "ghp_0123456789", "Secret_Key": "k3y-value", "PORT": "8000"},
    ]
    # API_TOKEN's value is too short to be masked everywhere without masking innocent text
    assert secret_values(envs) == {"hunter2", "ghp_0123456789", "k3y-value"}


@pytest.mark.parametrize(
    "text",
    [
        'export DB_PASSWORD="hunter2"',
        "PASSWORD='hunter2'",
        '{"user": "app", "password": "hunter2"}',
    ],
)
def test_quoted_secret_values_masked(text: str) -> None:
    assert "hunter2" not in Redactor().text(text)


def test_authorization_header_token_masked() -> None:
    text = "GET /api Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig 401"
    assert "eyJhbGciOiJIUzI1NiJ9" not in Redactor().text(text)


def test_working_directory_is_not_a_secret() -> None:
    values = secret_values([{"PWD": "/app", "OLDPWD": "/srv/app", "DB_PWD": "t0psecret"}])
    assert values == {"t0psecret"}


@pytest.mark.parametrize("text", ["checks passing=5", "BYPASS_CACHE=1", "author=Jane"])
def test_names_merely_containing_pass_or_auth_are_not_secret(text: str) -> None:
    assert Redactor().text(text) == text


def test_where_a_secret_service_lives_is_not_a_secret() -> None:
    """`AUTH_HOST=auth-svc` names a service: masking it hid the service in every edge of a
    report (found by the benchmark's generated stacks)."""
    found = secret_values(
        [{"AUTH_HOST": "auth-svc", "TOKEN_URL": "http://tok:8080", "AUTH_TOKEN": "t0k3n-x"}]
    )
    assert found == {"t0k3n-x"}
