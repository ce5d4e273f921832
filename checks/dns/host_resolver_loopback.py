"""The host resolves through a loopback resolver, so the default bridge gets Google's DNS.

When the host's /etc/resolv.conf lists only loopback nameservers (dnsmasq's 127.0.0.1,
a local unbound, systemd-resolved's 127.0.0.53), a container cannot use them: 127.0.0.1
inside a container is the container itself. The engine removes loopback nameservers
from the copy it hands containers on the default bridge (`docker run` without
`--network`, compose's `network_mode: bridge`), and when none is left it writes Google's
public resolvers instead, `nameserver 8.8.8.8` and `8.8.4.4` (moby's
libnetwork/resolvconf `FilterResolvDNS`). Those containers then miss every name only the
local resolver knows (a company's internal zones, split-horizon DNS, dnsmasq's
`address=` entries, a VPN's domains), and resolve nothing at all where outbound DNS is
blocked or only the company's resolvers may be asked.

When it is not a problem, and this check stays silent: on user-defined networks the
embedded DNS server (127.0.0.11) forwards to the host's loopback resolver from the
host's own network namespace (since Docker 1.13), so those names resolve. With
systemd-resolved, when 127.0.0.53 is /etc/resolv.conf's only nameserver, the engine reads
/run/systemd/resolve/resolv.conf instead, which holds resolved's real upstreams: the
default bridge gets those. And a host whose resolv.conf also lists a non-loopback server
hands containers that one.

Detected from files alone, no DNS query: the host's /etc/resolv.conf (read through the
host placement) lists nameservers and all are loopback addresses, and a probe on the
default bridge shows what the engine really handed its containers: only the fallback
servers (8.8.8.8, 8.8.4.4, 2001:4860:4860::8888, 2001:4860:4860::8844). That second file
tells the systemd-resolved case apart: the engine chose its file once, at start, and a
probe sees the result. Only for target containers on the default bridge that run and set
no `dns:` of their own.

Fix: put the containers on a user-defined network, whose embedded DNS forwards to the
host's resolver (compose does this by default: drop `network_mode: bridge`). Or give the
engine the resolvers it should hand out, in /etc/docker/daemon.json, `{"dns":
["192.168.1.1"]}` (your network's resolver, e.g. an upstream from `resolvectl status`),
then `sudo systemctl restart docker`; or per service, `dns: [192.168.1.1]`. With dnsmasq,
it can also serve the bridge: `listen-address=127.0.0.1,172.17.0.1` in
/etc/dnsmasq.conf and `{"dns": ["172.17.0.1"]}` in daemon.json. With systemd-resolved,
keep /etc/resolv.conf the stub file (only 127.0.0.53) and make sure resolved knows an
upstream (`resolvectl dns`), then restart docker.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from diag.checks._members import reachable_members
from diag.model.context import CheckContext
from diag.model.findings import Result, subjects
from diag.model.tasks import RESOLV_CONF, Planned

ID = "dns.host-resolver-loopback"
SEVERITY = "warning"
TITLE = "The host's loopback resolver leaves the default bridge with Google's DNS"

FALLBACK = frozenset({"8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844"})
SYSTEMD_STUB = "127.0.0.53"


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def _bridges(ctx: CheckContext):
    return [n for n in ctx.target.networks if n.is_default_bridge]


def plan(ctx: CheckContext) -> list[Planned]:
    bridges = _bridges(ctx)
    if not bridges:
        return []
    return [(ctx.host_placement(), RESOLV_CONF)] + [
        (ctx.peer_placement(n), RESOLV_CONF) for n in bridges
    ]


def evaluate(ctx: CheckContext) -> Iterator[Result]:
    bridges = _bridges(ctx)
    host = ctx.observations.get(ctx.host_placement(), RESOLV_CONF) if bridges else None
    if host is None or host.status != "ok" or not host.nameservers:
        return
    if not all(_loopback(ns) for ns in host.nameservers):
        return
    for network in bridges:
        peer = ctx.observations.get(ctx.peer_placement(network), RESOLV_CONF)
        if peer is None or peer.status != "ok" or not peer.nameservers:
            continue
        if not set(peer.nameservers) <= FALLBACK:
            continue  # the engine found real upstreams (systemd-resolved's own file)
        on_it = [
            m.container
            for m in reachable_members(ctx)
            if m.network == network and not m.container.dns
        ]
        if not on_it:
            continue
        names = [c.name for c in on_it]
        services = [c.service for c in on_it if c.service]
        stub = list(host.nameservers) == [SYSTEMD_STUB]
        yield Result(
            subjects=subjects(services, names, network.name),
            summary=(
                f"the host resolves through {', '.join(host.nameservers)} only, which "
                f"containers cannot use, so the engine gave {', '.join(names)} on the default "
                f"bridge Google's public DNS ({', '.join(peer.nameservers)}): names only "
                "the host's resolver knows do not resolve there, nor anything where outbound "
                "DNS is blocked"
            ),
            evidence={
                "host_resolv_conf": "/etc/resolv.conf: nameserver " + ", ".join(host.nameservers),
                "default_bridge_resolv_conf": "nameserver "
                + ", ".join(peer.nameservers)
                + " (the engine's fallback when no non-loopback server is left)",
                **(
                    {
                        "systemd_resolved": "127.0.0.53 alone: the engine read "
                        "/run/systemd/resolve/resolv.conf, which named no upstream when it "
                        "started"
                    }
                    if stub
                    else {}
                ),
                "containers": names,
            },
            fix=(
                "Put them on a user-defined network, whose embedded DNS forwards to the "
                "host's resolver (in compose, drop `network_mode: bridge`; by hand, "
                "`docker network create app && docker network connect app "
                f"{names[0]}`). Or name the resolver the engine should hand out: "
                '`{"dns": ["192.168.1.1"]}` in /etc/docker/daemon.json (your network\'s '
                "resolver"
                + (", one of `resolvectl dns`" if stub else "")
                + "), then `sudo systemctl restart docker`."
            ),
        )
