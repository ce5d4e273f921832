"""A network's subnet, or the engine's default address pools, nearly used up.

A network hands each container that joins it one address of its subnet (of its `ip_range`,
when one is set), and its gateway holds one more. When they are gone, the next container
of a `docker compose up --scale` or a redeploy fails to start with "no available IPv4
addresses on this network's address pools", often long after the subnet was chosen "small
enough". Likewise, every network created without a subnet takes the next free block of the
engine's default address pools; when they are gone, `docker network create` and
`docker compose up` of a new project fail with "could not find an available, non-overlapping
IPv4 address pool among the defaults to assign to the network".

Detected from the engine:

- warning: the addresses the engine knows are held on a subnet (each running member's
  endpoint and the gateway, which the engine reserves even where it does not report it)
  are 90 % or more of its usable addresses (the subnet's own network and broadcast
  addresses are never handed out); an error when a container already failed to start
  for want of an address there (its engine error says so);
- info: 90 % or more of Docker's built-in default pools are taken by existing networks.
  The Engine API (1.41) does not report the daemon's `default-address-pools`, so the
  built-in defaults are assumed: 172.17.0.0/16 to 172.31.0.0/16 as one network each and
  192.168.0.0/16 as /20s, 31 networks in all. An engine configured with other pools is not
  judged by this (its networks lie outside the built-in ones).

Fix: recreate the network with a larger subnet; the finding names a free one with room
for twice what the network holds (overlapping no network of the engine) and gives the
compose `ipam` snippet (a wider `ip_range` inside the subnet, when the network has one and
the subnet leaves room). For the default pools,
remove unused networks (`docker network prune`) or give the daemon larger pools in
`/etc/docker/daemon.json` (`default-address-pools`) and restart it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from diag.checks.net._subnets import PRIVATE, IPNetwork, free_subnet
from diag.model.compose import NETWORK_LABEL
from diag.model.context import CheckContext
from diag.model.findings import Result, Severity, subjects
from diag.model.topology import Container, Network, Subnet

ID = "net.pool-exhausted"
SEVERITY = "warning"
TITLE = "Address pool nearly used up"

__all__ = ["ID", "SEVERITY", "TITLE", "evaluate"]

THRESHOLD = 0.9
# Docker's built-in default pools (moby ipamutils): one /16 each, then 192.168/16 as /20s.
DEFAULT_POOLS: tuple[ipaddress.IPv4Network, ...] = (
    *(ipaddress.IPv4Network(f"172.{n}.0.0/16") for n in range(17, 32)),
    *ipaddress.IPv4Network("192.168.0.0/16").subnets(new_prefix=20),
)
DEFAULT_POOLS_TEXT = "172.17.0.0/16-172.31.0.0/16 (/16 each) and 192.168.0.0/16 (/20 each)"
# How the engine (libnetwork's IPAM) says it in a container's State.Error, for v4 and v6.
NO_ADDRESS = ("no available IPv", "addresses on this network's address pools")
NEW_POOL_SIZE = 24  # each network of a suggested default pool: a /24


@dataclass(frozen=True)
class Usage:
    """One subnet's address pool: what the engine hands out there, and what it holds."""

    network: Network
    subnet: IPNetwork
    pool: IPNetwork  # the ip_range, else the subnet itself
    usable: int
    endpoints: tuple[str, ...]  # running members' addresses inside the pool
    gateway: str | None  # None: not reported, though the engine did reserve one

    @property
    def held(self) -> int:
        """The endpoints and the gateway: the engine reserves a gateway address on every
        subnet, also when `IPAM.Config` does not report it (a subnet given without one)."""
        gateway_inside = self.gateway is None or bool(_within([self.gateway], self.pool))
        return len(self.endpoints) + gateway_inside

    @property
    def ratio(self) -> float:
        return self.held / self.usable


def _usable(subnet: IPNetwork, pool: IPNetwork) -> int:
    """The pool's addresses the engine may hand out: all but the subnet's own network
    address (and its broadcast address, in IPv4)."""
    reserved = [subnet.network_address]
    if subnet.version == 4:
        reserved.append(subnet.broadcast_address)
    return pool.num_addresses - sum(address in pool for address in reserved)


def _within(addresses: Iterable[str], pool: IPNetwork) -> tuple[str, ...]:
    inside = set()
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        if address.version == pool.version and address in pool:
            inside.add(address)
    return tuple(str(address) for address in sorted(inside))


def _usage(ctx: CheckContext, network: Network, subnet: Subnet) -> Usage | None:
    try:
        net = ipaddress.ip_network(subnet.subnet, strict=False)
        pool = ipaddress.ip_network(subnet.ip_range, strict=False) if subnet.ip_range else net
    except ValueError:
        return None
    usable = _usable(net, pool)
    if usable <= 0:
        return None
    endpoints = [
        address
        for container, endpoint in ctx.topology.members(network)
        if container.running
        for address in (endpoint.ip, endpoint.ipv6)
        if address
    ]
    return Usage(network, net, pool, usable, _within(endpoints, pool), subnet.gateway)


def _subnets_of(network: Network) -> list[IPNetwork]:
    found = []
    for subnet in network.subnets:
        try:
            found.append(ipaddress.ip_network(subnet.subnet, strict=False))
        except ValueError:
            continue
    return found


def _engine_subnets(ctx: CheckContext, but: Network | None = None) -> list[IPNetwork]:
    """Every subnet of the engine's networks (but `but`'s own, which is being replaced)."""
    return [
        subnet
        for network in ctx.topology.networks
        if but is None or network.id != but.id
        for subnet in _subnets_of(network)
    ]


def _roomy_prefix(subnet: IPNetwork, block: IPNetwork, held: int, floor: int) -> int:
    """The longest prefix, shorter than `block`'s and not below `floor`, whose enclosing
    block has room for twice `held` addresses (inside `subnet` when it is an ip_range)."""
    prefix = block.prefixlen - 1
    while prefix > floor:
        grown = block.supernet(new_prefix=prefix)
        if _usable(grown if grown.prefixlen <= subnet.prefixlen else subnet, grown) >= 2 * held:
            break
        prefix -= 1
    return prefix


def _larger(usage: Usage, taken: list[IPNetwork]) -> IPNetwork | None:
    """A free subnet with room for twice what the network holds now: the block enclosing
    the current subnet when no other network uses it, else one in the same /16 (IPv4),
    else one elsewhere in the private ranges."""
    subnet = usage.subnet
    prefix = _roomy_prefix(subnet, subnet, usage.held, 8)
    scopes = [subnet.supernet(new_prefix=prefix)]
    if subnet.version == 4:
        scopes.append(subnet.supernet(new_prefix=min(prefix, 16)))
    scopes += [s for s in PRIVATE if s.version == subnet.version]
    return free_subnet(scopes, prefix, taken)


def _fix(ctx: CheckContext, usage: Usage) -> str:
    network, subnet = usage.network, usage.subnet
    if usage.pool != subnet:  # an ip_range: widen it inside its subnet first
        prefix = _roomy_prefix(subnet, usage.pool, usage.held, subnet.prefixlen)
        if prefix > subnet.prefixlen:
            wider = usage.pool.supernet(new_prefix=prefix)
            return _recreate(
                network,
                f"subnet: {subnet}\n            ip_range: {wider}",
                f"--subnet {subnet} --ip-range {wider}",
                "a wider ip_range (keep it clear of addresses used outside Docker, such as "
                "a DHCP server's range)",
            )
    larger = _larger(usage, _engine_subnets(ctx, but=network))
    text = str(larger) if larger is not None else "<a larger free subnet>"
    return _recreate(network, f"subnet: {text}", f"--subnet {text}", "a larger subnet")


def _recreate(network: Network, yaml: str, flags: str, what: str) -> str:
    key = network.labels.get(NETWORK_LABEL)
    if key:
        return (
            f"Give network {key} {what} in the compose file, then recreate it (a network's "
            "addresses cannot change while it exists: `docker compose down` and "
            f"`docker compose up -d`):\n  networks:\n    {key}:\n      ipam:\n"
            f"        config:\n          - {yaml}"
        )
    return (
        f"Recreate {network.name} with {what} once its containers are stopped: "
        f"`docker network rm {network.name}` and `docker network create --driver "
        f"{network.driver} {flags} {network.name}`, then reconnect them."
    )


def _subnet_results(ctx: CheckContext) -> Iterator[Result]:
    for network in ctx.target.networks:
        for subnet in network.subnets:
            usage = _usage(ctx, network, subnet)
            if usage is None or usage.ratio < THRESHOLD:
                continue
            where = (
                f"{usage.pool} (ip_range of {usage.subnet})" if subnet.ip_range else subnet.subnet
            )
            evidence: dict[str, object] = {
                "subnet": subnet.subnet,
                "usable": usage.usable,
                "held": usage.held,
                "used": f"{usage.ratio:.0%}",
                "gateway": usage.gateway or "reserved (its address not reported)",
                "endpoints": len(usage.endpoints),
                "free": usage.usable - usage.held,
            }
            if subnet.ip_range:
                evidence["ip_range"] = subnet.ip_range
            starved = _starved(ctx, network)
            if starved:
                evidence["not_started"] = [f"{c.name}: {c.error}" for c in starved]
            yield Result(
                subjects=subjects([c.service for c in starved], [c.name for c in starved])
                + subjects(network.name),
                summary=(
                    f"{network.name}'s {where} has {usage.usable - usage.held} of "
                    f"{usage.usable} addresses left ({usage.ratio:.0%} held): "
                    + (
                        f"{', '.join(c.name for c in starved)} could not start for want of one"
                        if starved
                        else "when none is left, containers that join it fail to start"
                    )
                ),
                evidence=evidence,
                fix=_fix(ctx, usage),
                severity=Severity.ERROR if starved else None,
            )


def _starved(ctx: CheckContext, network: Network) -> list[Container]:
    """Containers the engine could not start because the network had no address left."""
    return [
        c
        for c in ctx.topology.containers
        if not c.running
        and all(words in c.error for words in NO_ADDRESS)
        and (network.name in c.error or network.id in c.error)
    ]


def _pool_results(ctx: CheckContext) -> Iterator[Result]:
    taken = _engine_subnets(ctx)
    used = [pool for pool in DEFAULT_POOLS if any(pool.overlaps(t) for t in taken)]
    if len(used) < THRESHOLD * len(DEFAULT_POOLS):
        return
    free = [str(pool) for pool in DEFAULT_POOLS if pool not in used]
    base = free_subnet(PRIVATE[:1], 16, taken)
    pools = f'{{"base": "{base or "<a free /16>"}", "size": {NEW_POOL_SIZE}}}'
    ours = [
        n.name
        for n in ctx.target.networks
        if any(p.overlaps(s) for p in used for s in _subnets_of(n))
    ]
    yield Result(
        subjects=subjects(ours),
        summary=(
            f"{len(used)} of Docker's {len(DEFAULT_POOLS)} default address pools are taken: "
            f"{_more(len(free))} can be created without a subnet given"
        ),
        evidence={
            "default_pools": f"{DEFAULT_POOLS_TEXT}: {len(DEFAULT_POOLS)} networks",
            "assumed": "Docker's built-in defaults: Engine API "
            f"{ctx.topology.engine.api_version} does not report the daemon's "
            "default-address-pools",
            "taken": len(used),
            "free_pools": free,
        },
        fix=(
            "Remove networks no longer used (`docker network prune`), or give the daemon "
            f'larger pools in /etc/docker/daemon.json:\n  {{\n    "default-address-pools": '
            f"[{pools}]\n  }}\nthen restart it (`sudo systemctl restart docker`); existing "
            f"networks keep their subnets, new ones get a /{NEW_POOL_SIZE} each."
        ),
        severity=Severity.INFO,
    )


def _more(free: int) -> str:
    if not free:
        return "no more network"
    return f"only {free} more network" + ("s" if free > 1 else "")


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    yield from _subnet_results(ctx)
    yield from _pool_results(ctx)
