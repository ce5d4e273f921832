"""Read the kernel's neighbour-table statistics: /proc/net/stat/arp_cache (IPv4) and
ndisc_cache (IPv6).

The neighbour tables are one per machine, shared by every network namespace, and their
limit (`gc_thresh3`) is the machine's too; the kernel shows their statistics only in its
initial network namespace. Each file has a header of column names and one line of
hexadecimal counters per CPU: `entries` is the table's (the same on every line), the event
counters (`table_fulls`: allocations refused because the table was full) are per CPU and
add up. Columns are found by name: kernels added some over the years.
"""

from __future__ import annotations

TABLES = ("arp_cache", "ndisc_cache")


def table_stats(text: str) -> dict[str, int]:
    """`{"entries": N, "table_fulls": M}` from one of the files; ValueError on another shape."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        raise ValueError("no counters")
    header, rows = lines[0], lines[1:]
    try:
        entries, fulls = header.index("entries"), header.index("table_fulls")
    except ValueError:
        raise ValueError(f"no entries or table_fulls column in {' '.join(header)!r}") from None
    if any(len(row) != len(header) for row in rows):
        raise ValueError("a line without a counter for every column")
    return {
        "entries": int(rows[0][entries], 16),
        "table_fulls": sum(int(row[fulls], 16) for row in rows),
    }
