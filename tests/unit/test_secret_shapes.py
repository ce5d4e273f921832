"""Secrets recognised by their shape (`diag/report/secret_shapes.py`) and by their variable's
name (`is_secret_name`): each common shape is masked in free text, and the near misses
(ids, digests, hashes, paths, publishable keys) pass untouched.

Every token below is made up in the published format of its issuer; none is real.
"""

from __future__ import annotations

import pytest

from diag.report.redact import MASK, Redactor, is_secret_name
from diag.report.secret_shapes import mask_private_keys

AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"  # AWS's own documentation example
AWS_TEMP_KEY_ID = "ASIA" + "Y34FZKBOKMUTVV7A"
GITHUB_CLASSIC = ["gh" + kind + "_" + "a1B2c3D4e5F6" * 3 for kind in "pousr"]
GITHUB_FINE = "github_pat_" + "11ABCDEFG0" * 2 + "xy_" + "Zz9" * 20
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
SLACK_HOOK_PATH = "T00000000/B00000000/" + "X" * 24
SLACK_TOKENS = [
    "xoxb-123456789012-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx",
    "xoxp-123456789012-123456789012-123456789012-" + "0a1b2c3d4e5f" * 2,
    "xoxa-2-" + "0123456789abcdef",
    "xoxr-" + "0123456789abcdef",
    "xoxs-1234567890-1234567890-1234567890-abcdef",
    "xapp-1-A0123456789-1234567890123-" + "0a1b2c3d" * 4,
]
STRIPE_KEYS = ["sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "rk_live_" + "51H0q2kLzX9a8b7c6d5e4f3g"]
SENTRY_KEY = "0123456789abcdef0123456789abcdef"
PEM_BODY = ["MIIEowIBAAKCAQEA" + "q7BFUAQYb3xvN1vZ" * 3, "Rk9PQkFSQkFaUVVY" * 4, "aGVsbG8gd29ybGQ="]


@pytest.mark.parametrize(
    "secret",
    [
        AWS_KEY_ID,
        AWS_TEMP_KEY_ID,
        *GITHUB_CLASSIC,
        GITHUB_FINE,
        "glpat-" + "xYz0123456789AbCdEfG",
        JWT,
        *SLACK_TOKENS,
        *STRIPE_KEYS,
        "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc",
        "AIza" + "SyA-0123456789abcdefghijklmnopqrstu",
        "npm_" + "a1B2c3D4e5F6" * 3,
        "dckr_pat_" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr",
        "SG." + "ngeVfQFYQlKU0ufo8x5d1A" + "." + "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
        "sk-proj-" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv",
        "sk-ant-api03-" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv",
        "hvs." + "CAESIJ0123456789abcdefGHIJKLMN",
        "sntryu_" + "0123456789abcdef" * 4,
    ],
)
@pytest.mark.parametrize(
    "template",
    [
        "{}",
        "worker: login with {} failed",
        "retrying with '{}'",
        "cred={};retries=3",  # `cred` is no secret name: only the shape tells
    ],
)
def test_token_shapes_masked_in_free_text(secret: str, template: str) -> None:
    masked = Redactor().text(template.format(secret))
    assert secret not in masked
    assert masked == template.format(MASK)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"GET /api Bearer {JWT}", f"GET /api Bearer {MASK}"),
        ("proxy sent Bearer abc.def.ghi1 upstream", "proxy sent Bearer *** upstream"),
        ("sent bearer 0123456789abcdef", "sent bearer ***"),
        (
            f"posting to https://hooks.slack.com/services/{SLACK_HOOK_PATH} failed",
            "posting to https://hooks.slack.com/services/*** failed",
        ),
        (
            f"sentry: https://{SENTRY_KEY}@o123456.ingest.sentry.io/4505 unreachable",
            "sentry: https://***@o123456.ingest.sentry.io/4505 unreachable",
        ),
        (
            "sentry: https://examplePublicKey@o0.ingest.sentry.io/0",
            "sentry: https://***@o0.ingest.sentry.io/0",
        ),
        (
            f"git fetch https://{'a1B2c3D4' * 5}@git.example/r.git",
            "git fetch https://***@git.example/r.git",
        ),
    ],
)
def test_tokens_keep_what_says_what_they_were(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


CONTAINER_ID = "3f4e5d6c7b8a" + "0123456789abcdef" * 3 + "0123"
NEAR_MISSES = [
    f"container {CONTAINER_ID} exited",
    f"image python@sha256:{'0123456789abcdef' * 4}",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 deployed",
    "request 123e4567-e89b-12d3-a456-426614174000 done",
    "AKIA1234 is too short, akiaiosfodnn7example is lowercase",
    "ghp_short gho_ ghx_" + "a1B2c3D4e5F6" * 3,
    "pk_live_" + "4eC39HqLyjWDarjtT1zdp7dc is a publishable key",
    "disk_test_abcdefghijklmnop and risk_live_abcdefghijklmnop",
    "xoxb- and xoxz-1234567890123",
    "eyJhbGciOiJIUzI1NiJ9 alone, eyJ.e30",
    "Bearer authentication failed; bearer token expired",
    "see https://hooks.slack.com/ for webhooks",
    "http://user@host/path and https://deploy-bot@git.example/r.git",
    "-----BEGIN CERTIFICATE-----",
    "-----BEGIN PUBLIC KEY-----",
    "TLS_KEY_FILE=/run/secrets/tls.key",
    "MYSQL_PASSWORD_FILE=/run/secrets/db_password",
    "KEYCLOAK_URL=http://keycloak:8080/auth",
    "PRIMARY_KEY_COLUMN=id primary_key=id sortKey=ts KEY_SIZE=2048 key=value",
    "SSH_PUBLIC_KEY=ssh-ed25519",
    "SENTRY_DSN_HOST=sentry",
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_unchanged(text: str) -> None:
    assert Redactor().text(text) == text


@pytest.mark.parametrize(
    "name",
    [
        "STRIPE_KEY",
        "ENCRYPTION_KEY",
        "ssh-key",
        "API_KEY",
        "API_KEYS",
        "apiKey",
        "X-Api-Key",
        "ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "SECRET_KEY",
        "DJANGO_SECRET_KEY",
        "SENTRY_DSN",
        "sentryDsn",
        "dsn",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "REGISTRY_CREDENTIALS",
        "license-key",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)
    assert Redactor().text(f"{name}=v4lue-0f-it") == f"{name}={MASK}"


@pytest.mark.parametrize(
    "name",
    [
        "KEY",
        "KEY_SIZE",
        "KEY_ID",
        "PRIMARY_KEY",
        "FOREIGN_KEY",
        "PARTITION_KEY",
        "ROUTING_KEY",
        "PUBLIC_KEY",
        "PRIMARY_KEY_COLUMN",
        "TLS_KEY_FILE",
        "SSH_KEY_PATH",
        "MYSQL_PASSWORD_FILE",
        "GOOGLE_APPLICATION_CREDENTIALS_FILE",
        "KEYCLOAK_URL",
        "KEYCLOAK_ADMIN",
        "MONKEY",
        "DSN_HOST",
        "oldPwd",
    ],
)
def test_not_secret_names(name: str) -> None:
    assert not is_secret_name(name)


RSA_BEGIN, RSA_END = "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----"


def test_private_key_block_in_one_text() -> None:
    health = "\n".join(["loading key", RSA_BEGIN, *PEM_BODY, RSA_END, "exit 1"])
    masked = Redactor().text(health)
    assert masked.split("\n") == ["loading key", RSA_BEGIN, MASK, MASK, MASK, RSA_END, "exit 1"]


def test_private_key_block_on_one_line_and_cut_short() -> None:
    one_line = f"key={RSA_BEGIN}{PEM_BODY[0]}{RSA_END} ok"
    assert Redactor().text(one_line) == f"key={RSA_BEGIN}{MASK}{RSA_END} ok"
    cut = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY[0]}"
    assert Redactor().text(cut) == f"-----BEGIN OPENSSH PRIVATE KEY-----\n{MASK}"


def test_private_key_as_a_variables_value() -> None:
    text = f"SSH_PRIVATE_KEY={RSA_BEGIN}\n{PEM_BODY[0]}\n{RSA_END}"
    assert Redactor().text(text) == f"SSH_PRIVATE_KEY={RSA_BEGIN}\n{MASK}\n{RSA_END}"


def test_private_key_across_log_lines() -> None:
    """A container's last log lines are a list of strings: the block spans items."""
    logs = ["boot", "-----BEGIN PRIVATE KEY-----", *PEM_BODY, "-----END PRIVATE KEY-----", "bye"]
    assert Redactor().value(logs) == [
        "boot",
        "-----BEGIN PRIVATE KEY-----",
        MASK,
        MASK,
        MASK,
        "-----END PRIVATE KEY-----",
        "bye",
    ]


def test_tail_of_a_key_in_the_last_log_lines() -> None:
    """The last 5 lines of a log that printed a key hold its end, not its BEGIN marker."""
    logs = ["panic: bad key", *PEM_BODY, "-----END EC PRIVATE KEY-----"]
    assert Redactor().value(logs) == ["panic: bad key", MASK, MASK, MASK, logs[-1]]


def test_private_key_masking_is_idempotent() -> None:
    for lines in (
        ["x", RSA_BEGIN, *PEM_BODY, RSA_END],
        [*PEM_BODY, RSA_END],
        [RSA_BEGIN, PEM_BODY[0]],
    ):
        once = mask_private_keys(lines)
        assert mask_private_keys(once) == once
        assert not set(PEM_BODY) & set(once)
