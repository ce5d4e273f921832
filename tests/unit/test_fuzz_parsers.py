"""Property tests (hypothesis) for the parsers that read untrusted input.

Agent observations (/proc/net/tcp*, resolv.conf, /etc/hosts), environment references,
the redactor, and the probe's answer stream: arbitrary input never raises, and
generated well-formed input round-trips.
"""

from __future__ import annotations

import ipaddress
import string
from types import SimpleNamespace

from docker.utils.socket import STDERR, STDOUT
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from diag.agent.hostsfile import parse_hosts
from diag.agent.procnet import decode_address, listening_sockets
from diag.agent.resolvconf import parse_resolv_conf
from diag.model.edges import plausible_host, references_in_env, references_in_value
from diag.model.tasks import Placement, Task
from diag.probes.resident import _lines
from diag.probes.session import ProbeSession
from diag.report.redact import MASK, Redactor

# derandomize: CI explores the same examples every run (a red build is reproducible, never
# a coin toss); set derandomize=False locally to explore new examples.
FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

# --- /proc/net/tcp and /proc/net/tcp6 ------------------------------------------------------

TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
PROC_FIELD = st.text(alphabet="0123456789ABCDEFabcdef:", max_size=40)
PROC_LINE = st.one_of(
    st.text(),
    st.lists(st.one_of(PROC_FIELD, st.sampled_from(["0A", "01", "06"])), max_size=8).map(" ".join),
)


def kernel_hex(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The address as the kernel prints it: each 32-bit word in little-endian order."""
    packed = address.packed
    return "".join(packed[i : i + 4][::-1].hex().upper() for i in range(0, len(packed), 4))


@FUZZ
@given(st.text())
def test_decode_address_raises_only_value_error(text):
    try:
        host, port = decode_address(text)
    except ValueError:
        return
    assert isinstance(host, str)
    assert isinstance(port, int)


@FUZZ
@given(st.one_of(st.text(), st.lists(PROC_LINE, max_size=10).map("\n".join)))
def test_listening_sockets_never_raises(text):
    for family in ("tcp", "tcp6"):
        for entry in listening_sockets(text, family):
            assert entry["family"] == family
            assert isinstance(entry["address"], str)
            assert isinstance(entry["port"], int)


ADDRESSES = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6))
PORTS = st.integers(min_value=0, max_value=65535)


@FUZZ
@given(
    st.lists(st.tuples(ADDRESSES, PORTS, st.sampled_from(["0A", "01", "06"])), max_size=10),
    st.lists(st.text(alphabet=string.ascii_letters + " :"), max_size=3),
)
def test_listen_lines_round_trip(sockets, junk):
    lines = [TCP_HEADER]
    for number, (address, port, state) in enumerate(sockets):
        local = f"{kernel_hex(address)}:{port:04X}"
        remote = f"{kernel_hex(type(address)(0))}:0000"
        lines.append(f"{number:4}: {local} {remote} {state} 00000000:00000000 00:00000000 0")
    text = "\n".join(lines + junk)
    expected = [
        {"family": "tcp", "address": str(getattr(a, "ipv4_mapped", None) or a), "port": p}
        for a, p, state in sockets
        if state == "0A"
    ]
    assert listening_sockets(text, "tcp") == expected


# --- resolv.conf and /etc/hosts ------------------------------------------------------------

TOKEN = st.text(alphabet=string.ascii_letters + string.digits + ".-:_", min_size=1, max_size=20)
COMMENT = st.text(alphabet=string.ascii_letters + " #;", max_size=20).map(lambda t: "# " + t)


@FUZZ
@given(st.text())
def test_parse_resolv_conf_never_raises(text):
    parsed = parse_resolv_conf(text)
    assert set(parsed) == {"nameservers", "search", "options"}
    assert all(isinstance(v, str) for values in parsed.values() for v in values)


RESOLV_LINE = st.one_of(
    st.tuples(st.just("nameserver"), st.lists(TOKEN, min_size=1, max_size=2)),
    st.tuples(st.sampled_from(["search", "domain"]), st.lists(TOKEN, max_size=4)),
    st.tuples(st.just("options"), st.lists(TOKEN, max_size=3)),
    st.tuples(st.just("#"), st.lists(TOKEN, max_size=3)),
    st.tuples(st.just(""), st.just([])),
)


@FUZZ
@given(st.lists(st.tuples(RESOLV_LINE, st.one_of(st.just(""), COMMENT)), max_size=12))
def test_resolv_conf_round_trip(lines):
    text = "\n".join(
        " ".join([keyword, *values]) + ("  " + comment if comment else "")
        for (keyword, values), comment in lines
    )
    nameservers, search, options = [], [], []
    for (keyword, values), _ in lines:
        if keyword == "nameserver":
            nameservers.append(values[0])
        elif keyword in ("search", "domain"):
            search = values
        elif keyword == "options":
            options.extend(values)
    assert parse_resolv_conf(text) == {
        "nameservers": nameservers,
        "search": search,
        "options": options,
    }


@FUZZ
@given(st.text())
def test_parse_hosts_never_raises(text):
    for entry in parse_hosts(text):
        assert isinstance(entry["ip"], str)
        assert entry["names"]


HOST_LINE = st.one_of(
    st.tuples(ADDRESSES.map(str), st.lists(TOKEN, min_size=1, max_size=4)),
    st.tuples(st.just(""), st.just([])),
)


@FUZZ
@given(st.lists(st.tuples(HOST_LINE, st.one_of(st.just(""), COMMENT)), max_size=12))
def test_hosts_round_trip(lines):
    text = "\n".join(
        "\t".join([ip, *names]) + (" " + comment if comment else "")
        for (ip, names), comment in lines
    )
    expected = [{"ip": ip, "names": names} for (ip, names), _ in lines if ip]
    assert parse_hosts(text) == expected


# --- environment references ----------------------------------------------------------------

ENV_NAMES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["DB_HOST", "DB_PORT", "REDIS_ADDR", "HOSTNAME", "DATABASE_URL", "BROKERS"]),
)
ENV_HOSTISH = st.text(alphabet=string.ascii_lowercase + string.digits + ".-[]:", max_size=12)
ENV_VALUES = st.one_of(
    st.text(max_size=40),
    st.builds(
        "{}://{}@{}:{}/".format,
        st.sampled_from(["http", "postgres", "redis", "x+y"]),
        st.text(alphabet="ab:@", max_size=6),
        ENV_HOSTISH,
        st.integers(min_value=0, max_value=999999),
    ),
    st.lists(
        st.builds("{}:{}".format, ENV_HOSTISH, st.integers(min_value=0, max_value=999999)),
        min_size=1,
        max_size=3,
    ).map(",".join),
)


def breaks_int(value: str) -> bool:
    """A digit that `int` refuses (`²`); it once crashed `_port`, pinned by the next test."""
    stripped = value.strip()
    return stripped.isdigit() and not stripped.isdecimal()


def check_references(refs):
    for ref in refs:
        assert plausible_host(ref.host), ref
        assert ref.port is None or 1 <= ref.port <= 65535, ref


@FUZZ
@given(st.dictionaries(ENV_NAMES, ENV_VALUES, max_size=6))
def test_references_in_env_never_raises(env):
    assume(not any(breaks_int(value) for value in env.values()))
    check_references(references_in_env(env))


@FUZZ
@given(st.dictionaries(ENV_NAMES, ENV_VALUES, max_size=6))
@example({"DB_HOST": "db", "DB_PORT": "²"})
def test_references_in_env_never_raises_on_odd_digits(env):
    check_references(references_in_env(env))


@FUZZ
@given(st.text(max_size=12), st.text())
def test_references_in_value_never_raises(name, value):
    check_references(references_in_value(name, value))


LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
HOSTNAMES = st.lists(LABEL, min_size=1, max_size=4).map(".".join).filter(plausible_host)
USERINFO = st.text(alphabet=string.ascii_letters + string.digits + "-._~!$&'()*+,;=%:", max_size=12)


@FUZZ
@given(
    st.from_regex(r"[A-Za-z][A-Za-z0-9+.-]{0,8}", fullmatch=True),
    USERINFO,
    USERINFO,
    st.one_of(HOSTNAMES, st.ip_addresses(v=4).map(str)),
    st.integers(min_value=1, max_value=65535),
    st.text(alphabet=string.ascii_letters + string.digits + "/_-", max_size=12),
)
def test_url_yields_host_and_port(scheme, user, password, host, port, path):
    value = f"{scheme}://{user}:{password}@{host}:{port}/{path}"
    refs = references_in_value("URL", value)
    assert [(ref.host, ref.port) for ref in refs] == [(host, port)]


@FUZZ
@given(st.ip_addresses(v=6), st.integers(min_value=1, max_value=65535))
def test_url_with_ipv6_host(address, port):
    refs = references_in_value("URL", f"http://u:p@[{address}]:{port}/x")
    assert [(ref.host, ref.port) for ref in refs] == [(str(address), port)]


# --- the redactor --------------------------------------------------------------------------

SECRET = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)).filter(lambda c: not c.isspace()),
    min_size=4,
    max_size=24,
)
URL_SECRET = SECRET.filter(lambda s: "@" not in s and "/" not in s)
SECRET_NAMES = st.sampled_from(
    ["PASSWORD", "DB_PASSWORD", "api_key", "GithubToken", "client-secret", "passwd"]
)


@FUZZ
@given(st.from_regex(r"[a-z][a-z0-9+.-]{0,6}", fullmatch=True), URL_SECRET, st.text(max_size=20))
def test_secret_in_url_is_masked(scheme, secret, tail):
    template = f"see {scheme}://u:{{}}@h.example/x {tail}"
    assume(secret not in template.replace("{}", MASK))
    assert secret not in Redactor().text(template.replace("{}", secret))


PAIR_SEPARATORS = st.sampled_from(["=", ": ", " = ", ":"])
VALUE_STOPS = ",;'\""


@FUZZ
@given(SECRET_NAMES, SECRET.filter(lambda s: s[0] not in VALUE_STOPS), PAIR_SEPARATORS)
def test_secret_pair_is_masked(name, secret, sep):
    text = f"{name}{sep}{secret}"
    assume(secret not in f"{name}{sep}{MASK}")
    assert secret not in Redactor().text(text)


@FUZZ
@given(SECRET_NAMES, st.sampled_from(VALUE_STOPS), SECRET, PAIR_SEPARATORS)
@example("PASSWORD", ",", "hunter22", "=")
def test_secret_pair_starting_with_a_stop_is_masked(name, stop, rest, sep):
    secret = stop + rest
    text = f"{name}{sep}{secret}"
    assume(secret not in f"{name}{sep}{MASK}")
    assert secret not in Redactor().text(text)


@FUZZ
@given(SECRET_NAMES, SECRET.filter(lambda s: not set(s) & set(",;'\"&")))
@example("password", "hunter22")
def test_secret_pair_in_query_string_is_masked(name, secret):
    text = f"DATABASE_URL=postgres://db/app?sslmode=off&{name}={secret}"
    assume(secret not in text.replace(secret, MASK))
    assert secret not in Redactor().text(text)


@FUZZ
@given(SECRET, st.text(max_size=30), st.text(max_size=30))
def test_known_secret_is_masked(secret, before, after):
    template = before + "{}" + after
    assume(secret not in template.replace("{}", MASK))
    assume(MASK not in secret and "*" not in secret)
    assert secret not in Redactor([secret]).text(template.replace("{}", secret))


REDACTABLE = st.one_of(
    st.text(),
    st.lists(
        st.one_of(
            st.text(max_size=10),
            st.sampled_from(
                [
                    *("password=", "token:", "authorization: bearer ", "://u:", "@", "="),
                    *(MASK, "'", "\n", "Bearer ", "ghp_", "AKIA", "eyJhbGciOi", ".eyJzdWIi"),
                    *("https://hooks.slack.com/services/", "xoxb-", "sk_live_", "API_KEY="),
                    *("-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----"),
                ]
            ),
        ),
        max_size=10,
    ).map("".join),
)


@FUZZ
@given(REDACTABLE)
def test_redaction_is_idempotent(text):
    once = Redactor().text(text)
    assert Redactor().text(once) == once


# --- the agent's request encoding ----------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=6,
)
FRAMES = st.lists(st.tuples(st.sampled_from([STDOUT, STDERR, 3]), st.binary(max_size=64)))


@settings(FUZZ)
@given(FRAMES)
def test_agent_output_frames_never_raise(frames):
    """Whatever bytes a probe writes (its image is the user's), they split into lines."""
    stderr: list[str] = []
    lines = list(_lines(iter(frames), stderr))
    assert all("\n" not in line for line in lines)
    assert len(stderr) <= 5


@settings(FUZZ, max_examples=100)  # nested JSON is the slowest to generate
@given(st.lists(st.dictionaries(st.sampled_from(["k", "r", "fail", "done", "x"]), JSON)))
def test_agent_answers_of_any_shape_are_absorbed(answers):
    """An answer line of any shape neither raises nor answers a task it does not name."""
    session = ProbeSession(SimpleNamespace(api=None), "img", 1.0, {})  # type: ignore[arg-type]
    events: list = []
    task = Task("listening")
    session._pending[1] = ((Placement("netns", "c" * 64), task), events.append)
    for answer in answers:
        session._on_answer(answer)
    assert len(events) <= 1
    if events:
        assert events[0].task == task
