"""The inbox: what needs you, then mail newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import DataTable

from fleetview.models import HUMAN, Message
from fleetview.tui.state import (
    FleetState,
    NeedsYou,
    age,
    one_line,
)
from fleetview.tui.views.base import (
    INBOX_WINDOW,
    FleetView,
    _matches,
)
from fleetview.tui.widgets import (
    FleetTable,
    Line,
    styled,
    theme_style,
)


class InboxView(FleetView):
    """Needs-you on top (open gates, waiting agents), then mail, newest first."""

    view_name = "inbox"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", id="inbox.open"),
        Binding("R", "reply", "Reply", id="inbox.reply"),
        Binding("m", "mark_read", "Mark read", id="inbox.mark_read"),
        Binding("c", "compose", "Compose", id="inbox.compose"),
        Binding("tab", "switch_pane", "Pane", show=False, id="inbox.pane"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._needs_sig: tuple[Any, ...] = ()
        self._mail_keys: list[str] = []
        self._mail_cache: dict[str, tuple[Text, ...]] = {}
        self._mail_layout: tuple[int, ...] = ()
        self._needs: dict[str, NeedsYou] = {}
        self._mail_memo: dict[tuple[Any, ...], tuple[Text, ...]] = {}

    def compose(self) -> ComposeResult:
        yield Line("needs you", id="needs-title")
        yield FleetTable(id="needs-table", classes="fv-focusable")
        yield Line("inbox", id="mail-title")
        yield FleetTable(id="mail-table", classes="fv-focusable")

    @property
    def mail(self) -> FleetTable:
        return self.query_one("#mail-table", FleetTable)

    @property
    def needs(self) -> FleetTable:
        return self.query_one("#needs-table", FleetTable)

    def main_widget(self) -> Widget:
        return self.mail

    @property
    def selected(self) -> Message | None:
        key = self.mail.current_key
        return self.fleet_app.state.messages.get(int(key)) if key else None

    def _mail_columns(self) -> list[tuple[str, str, int]]:
        width = max(60, self.app.size.width)
        if width >= 110:
            fixed = [
                ("mark", "", 2),
                ("age", "Age", 4),
                ("from", "From", 14),
                ("to", "To", 12),
                ("type", "Type", 13),
            ]
        else:
            fixed = [("mark", "", 2), ("age", "Age", 4), ("from", "From", 12)]
        used = sum(w for _, _, w in fixed) + 2 * (len(fixed) + 1) + 2
        return [*fixed, ("subject", "Subject", max(10, width - used))]

    def _mail_cells(
        self, message: Message, now: datetime, cols: list[tuple[str, str, int]]
    ) -> tuple[Text, ...]:
        unread = message.read_at is None
        bold = "bold" if unread else ""
        out: list[Text] = []
        for key, _, width in cols:
            if key == "mark":
                mark = ("●" if unread else " ") + {"urgent": "‼", "high": "!"}.get(
                    message.priority, " "
                )
                out.append(
                    styled(
                        mark,
                        theme_style(
                            self.app, message.priority if message.priority != "normal" else "accent"
                        ),
                    )
                )
            elif key == "age":
                out.append(styled(age(message.created_at, now), "dim"))
            elif key == "from":
                out.append(styled(one_line(message.sender, width), bold))
            elif key == "to":
                out.append(styled(one_line(message.recipient, width)))
            elif key == "type":
                out.append(styled(message.type, "dim"))
            elif key == "subject":
                style = theme_style(self.app, "urgent") if message.priority == "urgent" else bold
                out.append(styled(one_line(message.subject, width), style))
        return tuple(out)

    def refresh_view(self, state: FleetState, now: datetime, needle: str, full: bool) -> None:
        needs = state.needs_you()
        self._needs = {f"{n.kind}:{n.ref}": n for n in needs}
        signature = tuple((n.kind, n.ref, n.text) for n in needs)
        table = self.needs
        if full or signature != self._needs_sig or not table.columns:
            self._needs_sig = signature
            current = table.current_key
            table.clear(columns=True)
            width = max(60, self.app.size.width)
            table.add_column("", key="kind", width=5)
            table.add_column("Who", key="who", width=14)
            table.add_column("Needs", key="text", width=max(10, width - 33))
            for n in needs:
                table.add_row(
                    styled(
                        "gate" if n.kind == "gate" else "wait", theme_style(self.app, "waiting")
                    ),
                    styled(n.who, "bold"),
                    styled(
                        one_line(
                            n.text + (f"  [{' / '.join(n.options)}]" if n.options else ""), 200
                        )
                    ),
                    key=f"{n.kind}:{n.ref}",
                )
            table.move_to_key(current)
            table.styles.height = min(len(needs), 6) + 1 if needs else 1
            self.query_one("#needs-title", Line).show(
                Text(
                    f"needs you ({len(needs)})" + ("" if needs else " — nothing"),
                    style=theme_style(self.app, "waiting") if needs else "dim",
                )
            )
        messages = (
            state.inbox()
            if not needle
            else [
                m
                for m in state.inbox()
                if _matches(needle, m.subject, m.sender, m.recipient, m.type, m.priority)
            ]
        )
        shown = messages[:INBOX_WINDOW]
        unread = state.unread_count()
        more = (
            f" · showing newest {INBOX_WINDOW} of {len(messages)}"
            if len(messages) > INBOX_WINDOW
            else ""
        )
        self.query_one("#mail-title", Line).show(
            Text(
                f"inbox · {len(state.messages)} messages · {unread} unread for {HUMAN}{more}",
                style="bold",
            )
        )
        cols = self._mail_columns()
        layout = tuple(w for _, _, w in cols)
        keys = [str(m.id) for m in shown]
        # a row's cells depend on its read mark, its age and the layout: reuse them when
        # none changed, so switching to the inbox does not re-render INBOX_WINDOW rows
        memo = {} if full else self._mail_memo
        self._mail_memo = {}
        cells: dict[str, tuple[Text, ...]] = {}
        for m in shown:
            memo_key = (m.id, m.read_at, age(m.created_at, now), layout)
            row = memo.get(memo_key)
            if row is None:
                row = self._mail_cells(m, now, cols)
            self._mail_memo[memo_key] = cells[str(m.id)] = row
        mail = self.mail
        if full or layout != self._mail_layout or keys != self._mail_keys:
            current = mail.current_key
            if full or layout != self._mail_layout:
                mail.clear(columns=True)
                for key, label, width in cols:
                    mail.add_column(label, key=key, width=width)
                self._mail_layout = layout
            else:
                mail.clear()
            mail.add_keyed_rows((key, cells[key]) for key in keys)
            self._mail_keys = keys
            self._mail_cache = cells
            mail.move_to_key(current)
            return
        col_keys = [key for key, _, _ in cols]
        changes: list[tuple[str, str, Text]] = []
        for key in keys:
            old, new = self._mail_cache.get(key), cells[key]
            if old != new:
                changes.extend(
                    (key, col_keys[index], cell)
                    for index, cell in enumerate(new)
                    if old is None or old[index] != cell
                )
        mail.set_cells(changes)
        self._mail_cache = cells

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table.id == "needs-table":
            need = self._needs.get(str(event.row_key.value))
            if need:
                self.fleet_app.answer_need(need)
        else:
            self.action_open()

    def action_switch_pane(self) -> None:
        if self.mail.has_focus:
            self.needs.focus()
        else:
            self.mail.focus()

    def action_open(self) -> None:
        if self.needs.has_focus:
            need = self._needs.get(self.needs.current_key or "")
            if need:
                self.fleet_app.answer_need(need)
            return
        message = self.selected
        if message:
            self.fleet_app.open_thread(message.id)

    def action_reply(self) -> None:
        message = self.selected
        if message:
            self.fleet_app.reply_message(message.id, message.subject)

    def action_mark_read(self) -> None:
        message = self.selected
        if message:
            self.fleet_app.mark_read(message.id)

    def action_compose(self) -> None:
        self.fleet_app.compose_message()


# ---- meters -------------------------------------------------------------------------------
