"""Finding a free subnet to suggest in a fix (net.pool-exhausted, net.subnet-overlap).

A suggestion must be pasteable as it is: free of every network the engine has and, where
the host's routes were read, of every host route too; the checks pass all of them as
`taken`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Where a replacement subnet is looked for: 10/8 first, so that it does not take one of
# the engine's default pools' blocks (172.17-31/16, 192.168/16).
PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8")
)


def free_subnet(
    scopes: Iterable[IPNetwork], prefix: int, taken: list[IPNetwork]
) -> IPNetwork | None:
    """The first block of length `prefix`, in the order of `scopes`, that overlaps nothing
    in `taken`. A block that collides jumps past what it collides with, so a scan costs
    at most one step per taken network, whatever the scope's size."""
    for scope in scopes:
        if prefix < scope.prefixlen:
            continue
        size = 2 ** (scope.max_prefixlen - prefix)
        address, end = int(scope.network_address), int(scope.broadcast_address)
        while address + size - 1 <= end:
            candidate = ipaddress.ip_network((address, prefix))
            clashes = [t for t in taken if t.version == scope.version and t.overlaps(candidate)]
            if not clashes:
                return candidate
            last = max(int(t.broadcast_address) for t in clashes)
            address = (last // size + 1) * size
    return None
