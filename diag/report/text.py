"""Text hygiene shared by the formats: what may never reach any output, whatever the format.

Text in a report comes from the engine, from probes and from saved files, so it can hold
terminal escape sequences, control characters, bidirectional overrides (text that reads
differently than it is) and code points that XML 1.0 forbids. `clean()` removes them and
keeps tabs and newlines; each format then escapes what is special to it.
"""

from __future__ import annotations

import re
from typing import Any

# ANSI/VT sequences (CSI, OSC, other ESC-introduced), then C0/C1 controls but tab and
# newline, bidi embeddings/overrides/isolates, lone surrogates and XML's non-characters.
_SEQUENCES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)


def clean(value: object) -> str:
    """`value` as text without escape sequences or control characters (tab, newline kept;
    CRLF and lone CR become newlines)."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return _FORBIDDEN.sub("", _SEQUENCES.sub("", text))


def one_line(value: object) -> str:
    """`clean()`, with every run of whitespace (newlines included) made one space."""
    return " ".join(clean(value).split())


def clean_all(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings, numbers) with `clean()` applied to every
    string in it, dictionary keys included; other values are returned as they are."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean_all(key): clean_all(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_all(item) for item in value]
    return value
