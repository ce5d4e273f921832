"""Parse resolv.conf as the C library reads it: the last `search` wins, options accumulate."""

from __future__ import annotations


def parse_resolv_conf(text: str) -> dict[str, list[str]]:
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        keyword, values = fields[0], fields[1:]
        if keyword == "nameserver" and values:
            nameservers.append(values[0])
        elif keyword in ("search", "domain"):
            search = values
        elif keyword == "options":
            options.extend(values)
    return {"nameservers": nameservers, "search": search, "options": options}
