"""`--egress HOST:PORT` and `--egress-dns NAME`: the only way ddiag contacts an outside address.

Both are command-line options only, not settings of `ddiag.toml` or `x-ddiag`: a file that
comes with a repository is not the user's consent to send packets off the machine, so the
person who runs ddiag names every outside address on the command line. Parsing happens
before the diagnosis asks the engine anything, and every mistake is a usage error (exit 2)
that shows the expected form (diag.errors.DiagError).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from diag.errors import DiagError

Egress = tuple[str, int]  # (host: an address or a DNS name, port)

# RFC 1123 labels, plus `_` (service names such as _sip._tcp are real in private zones).
LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
MAX_NAME = 253


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_dns_name(name: str) -> bool:
    """A syntactically valid DNS name (a trailing dot allowed), not an address literal."""
    bare = name[:-1] if name.endswith(".") else name
    if not bare or len(bare) > MAX_NAME or is_address(bare):
        return False
    labels = bare.split(".")
    return all(LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit()


def _port(text: str, item: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise DiagError(f"--egress {item}: the port must be a number from 1 to 65535.")
    return int(text)


def parse_egress_item(item: str) -> Egress:
    """`host:443`, `10.0.0.1:443` or `[2001:db8::1]:443` → (host, port)."""
    text = item.strip()
    usage = (
        f"--egress takes HOST:PORT (e.g. proxy.example.com:3128, 10.0.0.1:443 or "
        f"[2001:db8::1]:443), not {item!r}."
    )
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep or ":" not in host or not is_address(host):
            raise DiagError(usage)
        return str(ipaddress.ip_address(host)), _port(port, item)
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise DiagError(usage)
    if ":" in host:
        raise DiagError(f"{usage} Write an IPv6 address in brackets: [ADDRESS]:PORT.")
    if not (is_address(host) or is_dns_name(host)):
        raise DiagError(usage)
    return host.rstrip(".").lower() if not is_address(host) else host, _port(port, item)


def parse_egress(items: Iterable[str]) -> tuple[Egress, ...]:
    return tuple(dict.fromkeys(parse_egress_item(item) for item in items))


def parse_egress_dns(items: Iterable[str]) -> tuple[str, ...]:
    names = []
    for item in items:
        name = item.strip()
        if not is_dns_name(name):
            raise DiagError(
                f"--egress-dns takes a DNS name (e.g. api.example.com), not {item!r}"
                + (": that is an address." if is_address(name) else ".")
            )
        names.append(name.rstrip(".").lower())
    return tuple(dict.fromkeys(names))


def egress_text(egress: Egress) -> str:
    """As the user writes it: `host:port`, `[v6]:port`."""
    host, port = egress
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
