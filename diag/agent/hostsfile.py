"""Parse /etc/hosts: what the C library answers before it asks any DNS server."""

from __future__ import annotations

from typing import TypedDict


class HostsEntry(TypedDict):
    """One line of the file, as the agent answers it: an address and its names."""

    ip: str
    names: list[str]


def parse_hosts(text: str) -> list[HostsEntry]:
    entries: list[HostsEntry] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            entries.append({"ip": fields[0], "names": fields[1:]})
    return entries
