"""Status from what a pane shows: the fallback for CLIs without hooks.

Busy patterns are checked before prompt patterns: a CLI that is working
often still draws its input box (`> `) below the spinner, so "a prompt is
visible" alone does not mean idle. A numbered choice list under a question
(`Do you want to proceed?` / `❯ 1. Yes` / `2. No`) means the agent waits for
a human; the question and the choices are returned for the inbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

BUSY_PATTERNS = [
    re.compile(r"esc to interrupt", re.IGNORECASE),
    re.compile(r"ctrl\+c to interrupt", re.IGNORECASE),
    re.compile(r"esc to cancel", re.IGNORECASE),
    re.compile(r"\(\d+s\s*•\s*esc", re.IGNORECASE),  # codex "Working (12s • esc to interrupt)"
]
QUESTION_PATTERNS = [
    re.compile(r"do you want to (proceed|make this edit|create|run|allow)[^\n]*\?", re.IGNORECASE),
    re.compile(r"(allow|approve)[^\n]{0,80}\?", re.IGNORECASE),
    re.compile(r"would you like to[^\n]*\?", re.IGNORECASE),
]
CHOICE = re.compile(r"^\s*(?:[❯>›▶*]\s*)?(\d{1,2})[.)]\s+(\S.*)$")
PROMPT_LINE = re.compile(r"(^\s*[>❯›]\s?.*$)|([$#%>❯]\s*$)")
BOX_CHARS = "│┃|╭╮╰╯─━ \t"

TITLE_BUSY = re.compile(r"^[⠀-⣿]\s")  # a braille spinner in the title (claude idles as "✳ ...")


@dataclass
class ScreenReading:
    """What the screen says: a status (or None: no opinion) and, when waiting, why."""

    status: str | None
    question: str = ""
    choices: list[str] = field(default_factory=list)
    reason: str = ""


def _strip_box(line: str) -> str:
    return line.strip(BOX_CHARS)


def read_screen(lines: list[str], cursor_y: int | None = None) -> ScreenReading:
    """Classify the visible screen (list of lines, top to bottom)."""
    visible = [line.rstrip() for line in lines]
    while visible and not visible[-1].strip():
        visible.pop()
    tail = visible[-25:]
    nonempty = [line for line in tail if _strip_box(line)]
    text = "\n".join(nonempty[-10:])

    # 1. waiting: a question followed by a numbered choice list (checked on the tail)
    for idx, line in enumerate(tail):
        clean = _strip_box(line)
        if any(p.search(clean) for p in QUESTION_PATTERNS):
            choices: list[str] = []
            trailing = 0
            for after in tail[idx + 1 :]:
                m = CHOICE.match(_strip_box(after))
                if m:
                    choices.append(f"{m.group(1)}. {m.group(2).strip()}")
                    trailing = 0
                elif _strip_box(after):
                    trailing += 1
                    if choices and PROMPT_LINE.search(after.rstrip()):
                        trailing = 99  # the agent is back at its prompt: answered
            # the list must be what the screen ends with (a footer of <= 2 lines),
            # not an answered question left in the scrollback
            if len(choices) >= 2 and trailing <= 2:
                return ScreenReading("waiting", clean, choices, "choice list")

    # 2. busy patterns before prompt patterns
    for pattern in BUSY_PATTERNS:
        if pattern.search(text):
            return ScreenReading("working", reason=pattern.pattern)

    # 3. a prompt where the cursor is (or on the last non-empty line)
    candidates = []
    if cursor_y is not None and 0 <= cursor_y < len(lines):
        candidates.append(lines[cursor_y].rstrip())
    if visible:
        candidates.append(visible[-1])
    for line in candidates:
        clean = _strip_box(line) if line.strip(BOX_CHARS) != line.strip() else line
        if PROMPT_LINE.search(clean.rstrip()) or PROMPT_LINE.search(line.rstrip()):
            return ScreenReading("idle", reason="prompt")
    return ScreenReading(None)


def read_title(title: str) -> str | None:
    """Some CLIs put a spinner in the pane title while they work."""
    if TITLE_BUSY.match(title or ""):
        return "working"
    return None
