"""The `:` command line and the ctrl+p palette, both fed by the binding tables."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

VIEW_WORDS = {
    "agents": "agents",
    "a": "agents",
    "1": "agents",
    "board": "board",
    "b": "board",
    "2": "board",
    "inbox": "inbox",
    "i": "inbox",
    "mail": "inbox",
    "3": "inbox",
    "meters": "meters",
    "m": "meters",
    "4": "meters",
}


def parse_command(text: str) -> tuple[str, str] | None:
    """(action, argument) for a command line such as `:board` or `:filter api`; None if unknown."""
    words = text.strip().lstrip(":").split(maxsplit=1)
    if not words:
        return None
    word, argument = words[0].lower(), (words[1] if len(words) > 1 else "")
    if word in VIEW_WORDS:
        return "view", VIEW_WORDS[word]
    if word in ("q", "quit", "exit", "q!"):
        return "quit", ""
    if word in ("help", "h", "?"):
        return "help", ""
    if word in ("filter", "f", "/"):
        return "filter", argument
    if word == "theme":
        return "theme", argument.strip()
    if word in ("new", "n"):
        return "new", ""
    if word in ("compose", "c", "msg"):
        return "compose", ""
    return None


class BindingsProvider(Provider):
    """Every key of the current view, as palette commands (same table as the footer and `?`)."""

    def _commands(self) -> list[tuple[str, str, str, object]]:
        found: list[tuple[str, str, str, object]] = []
        seen: set[str] = set()
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if not active.enabled or not binding.description or binding.action == "command_palette":
                continue
            if binding.description in seen:
                continue
            seen.add(binding.description)
            found.append((binding.description, key, binding.action, active.node))
        return found

    async def discover(self) -> Hits:
        for description, key, action, node in self._commands():
            yield DiscoveryHit(description, partial(self._run, action, node), help=f"key: {key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for description, key, action, node in self._commands():
            score = matcher.match(description)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(description),
                    partial(self._run, action, node),
                    help=f"key: {key}",
                )

    def _run(self, action: str, node: object) -> None:
        self.app.call_later(self.app.run_action, action, node)  # type: ignore[arg-type]
