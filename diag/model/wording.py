"""Several names in a finding's sentence, and the verb that agrees with them.

A per-port or per-target finding names every client, holder or network concerned, one or
many: "web uses api:8000" but "web and worker use api:8000". Checks and report formats build
such sentences from lists, so the listing and the agreement are decided here, once.
"""

from __future__ import annotations

from collections.abc import Sequence


def listed(names: Sequence[str], conjunction: str = "and") -> str:
    """`web`, `web and worker`, `web, worker and cron` (`or` for a choice)."""
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


def names_verb(names: Sequence[str], singular: str, plural: str) -> str:
    """The names as the subject of a sentence, with its verb: `web uses` (one name),
    `web and worker use` (several)."""
    return f"{listed(names)} {singular if len(names) == 1 else plural}"
