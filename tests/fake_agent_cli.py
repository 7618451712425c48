"""A fake terminal agent CLI, behaving like Claude Code / Codex on screen.

- shows a `> ` prompt, turns on bracketed paste, reads the terminal raw;
- a paste (ESC[200~ ... ESC[201~) is collected whole, Enter submits it;
- each submitted input is appended to --log as one JSON line {"input": ...};
- while "working" it redraws a spinner line `... (esc to interrupt)` every
  0.1 s for --work seconds (or `sleep N` in the input); Escape interrupts;
- an input containing "write" asks `Do you want to proceed?` with a numbered
  choice list and waits for `1`/Enter (yes) or `2`/Escape (no);
- "crash" exits with status 3, "exit" with 0; --title sets OSC titles;
- --rollout: like Codex, writes $CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl
  (session_meta with the cwd, turn_context, and token_count events after
  each input: cumulative totals, repeated once, plus a rate-limits-only one).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import sys
import termios
import time
import tty

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def out(text: str) -> None:
    os.write(1, text.replace("\n", "\r\n").encode())


EVENTS: str | None = None


def state(name: str) -> None:
    """Record a state change with its wall time (for bench/tmux_scale.py)."""
    if EVENTS:
        with open(EVENTS, "a") as fh:
            fh.write(f"{time.time():.4f} {name}\n")


def title(args: argparse.Namespace, text: str) -> None:
    if args.title:
        os.write(1, f"\x1b]0;{text}\x07".encode())


class Rollout:
    """A Codex-like session rollout file."""

    def __init__(self) -> None:
        home = os.environ.get("CODEX_HOME") or os.path.expanduser("~/.codex")
        now = time.gmtime()
        day = os.path.join(home, "sessions", time.strftime("%Y/%m/%d", now))
        os.makedirs(day, exist_ok=True)
        sid = f"0199aaaa-bbbb-7ccc-8ddd-{os.getpid():012d}"
        self.path = os.path.join(
            day, f"rollout-{time.strftime('%Y-%m-%dT%H-%M-%S', now)}-{sid}.jsonl"
        )
        self.turns = 0
        self.write(
            "session_meta",
            {
                "id": sid,
                "cwd": os.getcwd(),
                "cli_version": "0.50.0",
                "originator": "codex_cli_rs",
                "instructions": None,
            },
        )
        self.write(
            "turn_context",
            {
                "cwd": os.getcwd(),
                "approval_policy": "on-request",
                "model": "gpt-5-codex",
                "summary": "auto",
            },
        )

    def write(self, kind: str, payload: dict) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        with open(self.path, "a") as fh:
            fh.write(json.dumps({"timestamp": stamp, "type": kind, "payload": payload}) + "\n")

    def turn(self) -> None:
        self.turns += 1
        n = self.turns
        last = {
            "input_tokens": 1000,
            "cached_input_tokens": 400,
            "output_tokens": 50,
            "reasoning_output_tokens": 20,
            "total_tokens": 1050,
        }
        total = {k: v * n for k, v in last.items()}
        info = {
            "total_token_usage": total,
            "last_token_usage": last,
            "model_context_window": 272000,
        }
        limits = {"primary": {"used_percent": 7.0, "window_minutes": 300}}
        self.write("event_msg", {"type": "token_count", "info": None, "rate_limits": limits})
        self.write("event_msg", {"type": "token_count", "info": info, "rate_limits": limits})
        self.write("event_msg", {"type": "token_count", "info": info, "rate_limits": limits})


def read_key(timeout: float | None) -> bytes:
    ready, _, _ = select.select([0], [], [], timeout)
    if not ready:
        return b""
    return os.read(0, 65536)


def work(args: argparse.Namespace, seconds: float) -> bool:
    """Spin; False when interrupted by Escape."""
    start = time.monotonic()
    i = 0
    state("working")
    title(args, "⠋ working")
    while time.monotonic() - start < seconds:
        out(
            f"\r\x1b[2K{SPINNER[i % len(SPINNER)]} Thinking… ({int(time.monotonic() - start)}s · esc to interrupt)"
        )
        i += 1
        key = read_key(0.1)
        if key == b"\x1b":
            if args.log:
                with open(args.log, "a") as fh:
                    fh.write(json.dumps({"interrupted": True}) + "\n")
            out("\r\x1b[2KInterrupted by user\n")
            return False
    out("\r\x1b[2K")
    return True


def ask(args: argparse.Namespace) -> bool:
    title(args, "? waiting")
    state("waiting")
    out("Write file notes.txt\n\nDo you want to proceed?\n❯ 1. Yes\n  2. No\n")
    while True:
        key = read_key(None)
        if key in (b"1", b"\r", b"\n", b"y"):
            state("working")
            out("\n")
            return True
        if key in (b"2", b"\x1b", b"n"):
            out("\n")
            return False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", default=os.environ.get("FAKE_AGENT_LOG"))
    parser.add_argument("--work", type=float, default=1.0)
    parser.add_argument("--title", action="store_true")
    parser.add_argument("--exit-after", type=float, default=None, help="exit 3 after N s")
    parser.add_argument("--events", default=None, help="append (time, state) lines here")
    parser.add_argument("--settings", default=None, help="accepted like claude's (logged)")
    parser.add_argument("-c", dest="config", action="append", default=[], help="like codex's")
    parser.add_argument("--rollout", action="store_true", help="write a Codex-like rollout")
    args = parser.parse_args()
    rollout = Rollout() if args.rollout else None
    global EVENTS
    EVENTS = args.events
    started = time.monotonic()

    fd = 0
    old = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        out("fake agent ready\n")
        if args.log:
            with open(args.log, "a") as fh:
                env = {
                    k: v
                    for k, v in os.environ.items()
                    if k.startswith(("FLEETVIEW_", "GEMINI_CLI_", "CODEX_"))
                }
                fh.write(
                    json.dumps({"env": env, "settings": args.settings, "config": args.config})
                    + "\n"
                )
        while True:
            title(args, "fake idle")
            out("\x1b[?2004h> ")
            state("idle")
            buf = bytearray()
            pasting = False
            while True:
                if args.exit_after is not None and time.monotonic() - started > args.exit_after:
                    return 3
                chunk = read_key(0.2 if args.exit_after is not None else None)
                if not chunk:
                    continue
                i = 0
                submitted = False
                while i < len(chunk):
                    if chunk.startswith(b"\x1b[200~", i):
                        pasting = True
                        i += 6
                        continue
                    if chunk.startswith(b"\x1b[201~", i):
                        pasting = False
                        i += 6
                        continue
                    byte = chunk[i : i + 1]
                    i += 1
                    if not pasting and byte in (b"\r", b"\n"):
                        submitted = True
                        break
                    if not pasting and byte == b"\x03":
                        return 130
                    if not pasting and byte == b"\x7f":
                        buf = buf[:-1]
                        continue
                    buf += byte
                if submitted:
                    break
            text = buf.decode("utf-8", "replace")
            out("\x1b[?2004l\n")
            if args.log:
                with open(args.log, "a") as fh:
                    fh.write(json.dumps({"input": text}) + "\n")
            first = text.strip().splitlines()[0] if text.strip() else ""
            if first == "exit":
                return 0
            if first == "crash":
                return 3
            seconds = args.work
            match = re.search(r"sleep (\d+(?:\.\d+)?)", text)
            if match:
                seconds = float(match.group(1))
            if not work(args, seconds):
                continue
            if "write" in text:
                if ask(args):
                    work(args, 0.3)
                    out("Wrote notes.txt\n")
                else:
                    out("Cancelled.\n")
            if rollout is not None:
                rollout.turn()
            out(f"● done: {first[:60]} ({len(text)} chars, {text.count(chr(10)) + 1} lines)\n")
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


if __name__ == "__main__":
    sys.exit(main())
