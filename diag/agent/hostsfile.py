"""Parse /etc/hosts: what the C library answers before it asks any DNS server."""

from __future__ import annotations


def parse_hosts(text: str) -> list[dict[str, object]]:
    entries = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            entries.append({"ip": fields[0], "names": fields[1:]})
    return entries
