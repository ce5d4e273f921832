"""Secrets recognised by their shape alone, wherever they turn up in free text.

A token issued by a well-known service carries a prefix or a structure of its own (the
published formats that secret scanners such as gitleaks and detect-secrets match, written
anew here), so it can be masked in a log line or a health output without knowing which
variable held it. Only shapes with such a distinctive prefix or structure are listed: a
generic "long random string" rule would mask what ddiag must show, container ids, image
digests, git SHAs and UUIDs, all plain hex.

Private key blocks (`-----BEGIN ... PRIVATE KEY-----`) span lines, and a container's last
log lines are a list of strings, so they are masked line by line (`mask_private_keys`):
everything between the markers, and, when a text starts inside a key (a log tail whose
first marker is an END), the base64 body lines right before that END.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MASK = "***"

# Each shape: the words one of which any match holds (lower case; a quick test before the
# regular expression, as gitleaks does: most strings hold none), and the expression, whose
# `secret` group is masked while what is around it stays (the scheme of a URL, `Bearer `), so
# that the reader still sees what kind of value was there.
SHAPES: tuple[tuple[str, str], ...] = (
    # AWS access key ids: a four-letter kind (AKIA long-term, ASIA temporary...) + 16
    (
        "a3t akia asia abia acca",
        r"\b(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})(?![A-Za-z0-9])",
    ),
    # GitHub: classic tokens (personal, OAuth, user-to-server, server-to-server, refresh)
    ("ghp_ gho_ ghu_ ghs_ ghr_", r"\b(?P<secret>gh[pousr]_[A-Za-z0-9]{36,251})(?![A-Za-z0-9])"),
    ("github_pat_", r"\b(?P<secret>github_pat_[A-Za-z0-9_]{22,255})"),  # fine-grained tokens
    ("glpat-", r"\b(?P<secret>glpat-[A-Za-z0-9_-]{20,})"),  # GitLab personal access tokens
    # JSON Web Tokens: a JSON header (`{"` is `eyJ`) and payload, then the signature
    ("eyj", r"\b(?P<secret>eyJ[A-Za-z0-9_-]{8,}\.ey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)"),
    # Any RFC 6750 bearer token of some length with a digit or punctuation in it: a JWT that
    # is not JSON-shaped, an opaque token (`Bearer authentication` stays text)
    (
        "bearer",
        r"(?i:\bbearer)\s+(?P<secret>(?=[A-Za-z0-9._~+/-]*[0-9._~+/-])[A-Za-z0-9._~+/-]{8,}=*)",
    ),
    # Slack: bot, user, app, legacy and refresh tokens; incoming webhook URLs
    ("xox", r"\b(?P<secret>xox[abeoprs]-[A-Za-z0-9-]{10,})"),
    ("xapp-", r"\b(?P<secret>xapp-\d-[A-Za-z0-9-]{10,})"),
    (
        "hooks.slack.com",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9+/_-]{8,})",
    ),
    # Stripe secret and restricted keys (publishable `pk_` keys are public by design)
    (
        "k_live_ k_test_ k_prod_",
        r"\b(?P<secret>(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10,99})(?![A-Za-z0-9])",
    ),
    # A key as a URL's only user info: a Sentry DSN (`https://KEY@o1.ingest.sentry.io/2`), a
    # token in a git remote (`https://TOKEN@host/repo.git`); user names are shorter. On
    # sentry.io, any user info is the DSN's key.
    ("://", r"\b[A-Za-z][\w+.-]*://(?P<secret>[A-Za-z0-9_-]{32,})@"),
    ("sentry.io", r"://(?P<secret>[^:/@\s]+)@(?:[\w-]+\.)*sentry\.io\b"),
    ("sntrys_ sntryu_", r"\b(?P<secret>sntry[su]_[A-Za-z0-9+/=_]{32,})"),  # Sentry auth tokens
    ("aiza", r"\b(?P<secret>AIza[A-Za-z0-9_-]{35})(?![A-Za-z0-9_-])"),  # Google API keys
    ("npm_", r"\b(?P<secret>npm_[A-Za-z0-9]{36})(?![A-Za-z0-9])"),  # npm access tokens
    ("dckr_pat_", r"\b(?P<secret>dckr_pat_[A-Za-z0-9_-]{20,})"),  # Docker Hub access tokens
    ("pypi-", r"\b(?P<secret>pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})"),  # PyPI upload tokens
    ("sg.", r"\b(?P<secret>SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,})"),  # SendGrid API keys
    # OpenAI (project, service account, admin, legacy) and Anthropic API keys
    (
        "sk-",
        r"\b(?P<secret>sk-(?:proj|svcacct|admin|ant)-[A-Za-z0-9_-]{20,}"
        r"|sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})",
    ),
    ("hvs. hvb.", r"\b(?P<secret>hv[sb]\.[A-Za-z0-9_-]{24,})"),  # HashiCorp Vault tokens
)
TOKEN_SHAPES: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = tuple(
    (frozenset(keywords.split()), re.compile(pattern)) for keywords, pattern in SHAPES
)
# Every keyword at every position (a lookahead, so that overlapping ones are all found).
KEYWORDS = re.compile(
    "(?=(" + "|".join(re.escape(word) for words, _ in TOKEN_SHAPES for word in words) + "))"
)

KEY_BEGIN = re.compile(r"-----BEGIN[ A-Z0-9_]{0,100}PRIVATE KEY(?: BLOCK)?-----")
KEY_END = re.compile(r"-----END[ A-Z0-9_]{0,100}PRIVATE KEY(?: BLOCK)?-----")
KEY_BODY_LINE = re.compile(r"\s*[A-Za-z0-9+/=]{16,}\s*")


def mask_tokens(text: str) -> str:
    """Every token of a known shape in `text` replaced by the mask."""
    present = set(KEYWORDS.findall(text.lower()))
    if not present:
        return text
    for keywords, shape in TOKEN_SHAPES:
        if keywords & present:
            text = shape.sub(_mask_secret_group, text)
    return text


def _mask_secret_group(match: re.Match[str]) -> str:
    whole, start = match.group(), match.start()
    return whole[: match.start("secret") - start] + MASK + whole[match.end("secret") - start :]


def mask_private_keys(lines: Sequence[str]) -> list[str]:
    """`lines` (a text split at newlines, or a list of log lines) with the body of every
    private key block masked: the markers stay, so the reader still sees a key was there."""
    if not any("PRIVATE KEY" in line for line in lines):
        return list(lines)
    masked = _mask_tail_of_key(list(lines))
    inside = False
    for index, line in enumerate(masked):
        masked[index], inside = _mask_line(line, inside)
    return masked


def _mask_tail_of_key(lines: list[str]) -> list[str]:
    """A text that starts inside a key (a log tail: the first marker is an END): the body
    lines right before that END (and a body before it on its own line) are masked."""
    for index, line in enumerate(lines):
        begin, end = KEY_BEGIN.search(line), KEY_END.search(line)
        if begin and (end is None or begin.start() < end.start()):
            return lines
        if end:
            if KEY_BODY_LINE.fullmatch(line[: end.start()]):
                lines[index] = MASK + line[end.start() :]
            before = index - 1
            while before >= 0 and KEY_BODY_LINE.fullmatch(lines[before]):
                lines[before] = MASK
                before -= 1
            return lines
    return lines


def _mask_line(line: str, inside: bool) -> tuple[str, bool]:
    """One line masked from each BEGIN marker to its END marker (or the line's end), given
    whether a block is open when the line starts; and whether one is open at its end."""
    kept: list[str] = []
    position = 0
    while True:
        marker = (KEY_END if inside else KEY_BEGIN).search(line, position)
        if marker is None:
            rest = line[position:]
            kept.append(_masked(rest) if inside else rest)
            return "".join(kept), inside
        before = line[position : marker.start()]
        kept.append((_masked(before) if inside else before) + marker.group())
        position, inside = marker.end(), not inside


def _masked(body: str) -> str:
    """The mask for a key's body; blank stays blank (a marker alone on its line)."""
    return MASK if body.strip() else body
