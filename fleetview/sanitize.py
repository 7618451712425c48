"""Make untrusted agent output inert before it reaches a terminal.

Agents print whatever they like; a stray OSC or CSI sequence could retitle the
user's terminal, move the cursor or worse. The CLI and the TUI pass agent text
through `sanitize` so only printable text, newlines and tabs remain.
"""

from __future__ import annotations

import re

_ESCAPES = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]                 # CSI ... final byte
    | \x9b[0-?]*[ -/]*[@-~]                   # 8-bit CSI
    | (?:\x1b\]|\x9d).*?(?:\x07|\x1b\\|\x9c|$) # OSC ... BEL or ST (or end of text)
    | (?:\x1b[PX^_]|[\x90\x98\x9e\x9f]).*?(?:\x1b\\|\x9c|$)  # DCS, SOS, PM, APC ... ST
    | \x1b[ -/]*[0-~]                         # other ESC sequences (ESC ( B, ESC 7, ...)
    | \x1b                                    # a lone ESC
    """,
    re.VERBOSE | re.DOTALL,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize(text: str) -> str:
    """`text` without escape sequences or control characters (\\n and \\t kept)."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))
