"""The hook program agent CLIs run: `python -m fleetview.runtimes.tmux_hook EVENT`.

Reads the CLI's JSON on stdin (Codex passes it as the last argument), and
POSTs `{"event": EVENT, "data": ...}` to
FLEETVIEW_API_URL/v1/agents/$FLEETVIEW_AGENT_ID/hook with the fleet's token.
It must never slow or break the CLI: stdlib only, a 1 s timeout, every error
swallowed, exit status 0. For `statusline` it prints the one line Claude
Code shows under its prompt; for Gemini CLI's events (`gemini:EVENT`) an
empty JSON object, the only stdout Gemini accepts.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request


def _post(event: str, data: object) -> None:
    url = os.environ.get("FLEETVIEW_API_URL") or ""
    agent = os.environ.get("FLEETVIEW_AGENT_ID") or ""
    home = os.environ.get("FLEETVIEW_HOME") or ""
    if not (url and agent and home):
        return
    with open(os.path.join(home, "token"), encoding="utf-8") as fh:
        token = fh.read().strip()
    body = json.dumps({"event": event, "data": data}).encode()
    request = urllib.request.Request(
        f"{url.rstrip('/')}/v1/agents/{agent}/hook",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=1.0) as response:
        response.read()


def main(argv: list[str]) -> int:
    event = argv[1] if len(argv) > 1 else "unknown"
    data: object = {}
    try:
        if event == "codex-notify":
            data = json.loads(argv[-1]) if len(argv) > 2 else {}
        else:
            raw = sys.stdin.read() if not sys.stdin.isatty() else ""
            data = json.loads(raw) if raw.strip() else {}
    except Exception:  # noqa: BLE001 - never break the CLI over bad input
        data = {}
    try:
        _post(event, data)
    except Exception:  # noqa: BLE001, S110 - an engine that is down must not slow the CLI
        pass
    if event.startswith("gemini:"):
        print("{}")  # Gemini CLI parses a hook's stdout as JSON: nothing else may go there
    if event == "statusline":
        name = os.environ.get("FLEETVIEW_AGENT_NAME", "")
        cost = (data.get("cost") or {}).get("total_cost_usd") if isinstance(data, dict) else None
        print(f"fleetview · {name}" + (f" · ${cost:.4f}" if isinstance(cost, (int, float)) else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
