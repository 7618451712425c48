"""Screens: agent detail, forms (new agent, new task, compose), pickers, confirm, help, thread."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import Reactive
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, RichLog, Select, Static
from textual.widgets.option_list import Option

from fleetview.models import (
    COLUMNS,
    NAME_PATTERN,
    RUNTIMES,
    AgentSpec,
    Message,
    MessageSpec,
    TaskSpec,
)
from fleetview.sanitize import sanitize
from fleetview.tui.state import (
    FleetState,
    age,
    cost_text,
    meter,
    one_line,
    short_model,
    tokens_text,
)
from fleetview.tui.widgets import FleetList, FleetTable, KeyBar, ReadonlyAware, styled, theme_style

if TYPE_CHECKING:
    from fleetview.tui.app import FleetviewApp

DETAIL_LOG_LINES = 1_000


class MainScreen(Screen[int]):
    """The screen the four views live on.

    Screen.focused repaints the whole screen when it changes, so every view switch
    composed and sent a second full frame right after the one showing the new view,
    and the terminal writer waited on it. The widgets that gain and lose focus
    repaint themselves (their restyle refreshes them), so that repaint adds nothing."""

    focused: Reactive[Widget | None] = Reactive(None, repaint=False)


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no before anything destructive."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.question), classes="dialog-title")
            yield Label(Text("y / enter: yes    n / esc: no", style="dim"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class TextPromptScreen(ModalScreen[str | None]):
    """One line of text: a prompt for an agent, a reply, a gate answer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel")
    ]

    def __init__(self, title: str, placeholder: str = "", value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.title_text), classes="dialog-title")
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            yield Label(Text("enter: send    esc: cancel", style="dim"))

    def on_mount(self) -> None:
        self.query_one(Input).cursor_blink = False
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class PickScreen(ModalScreen[str | None]):
    """Choose one of a list (an agent to assign, a task to depend on, a gate option)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="pick.cancel")
    ]

    def __init__(self, title: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.title_text), classes="dialog-title")
            yield FleetList(
                *[Option(Text(label), id=value) for value, label in self.choices], id="pick-list"
            )

    def on_mount(self) -> None:
        self.query_one(FleetList).focus()

    @on(FleetList.OptionSelected)
    def chosen(self, event: FleetList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class FormScreen(ModalScreen[Any]):
    """A form validated as you type; ctrl+s or enter on the last field submits."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "submit", "Submit", id="form.submit"),
    ]
    title_text = ""

    def fields(self) -> ComposeResult:
        raise NotImplementedError

    def errors(self) -> list[str]:
        return []

    def result(self) -> Any:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form"):
            yield Label(self.title_text, classes="dialog-title")
            yield from self.fields()
            yield Label("", id="form-errors")
            with Horizontal(classes="form-buttons"):
                yield Button("Create", id="form-ok", variant="primary")
                yield Button("Cancel", id="form-cancel")

    def on_mount(self) -> None:
        for widget in self.query(Input):
            widget.cursor_blink = False
        first = self.query(Input).first()
        first.focus()
        self.validate()

    def value(self, field_id: str) -> str:
        widget = self.query_one(f"#{field_id}")
        if isinstance(widget, Select):
            return "" if widget.value is Select.BLANK else str(widget.value)
        return str(widget.value).strip()  # type: ignore[attr-defined]

    def validate(self) -> bool:
        errors = self.errors()
        label = self.query_one("#form-errors", Label)
        label.update(
            Text("\n".join(errors), style=theme_style(self.app, "error"))
            if errors
            else Text("ok — enter or ctrl+s to create", style="dim")
        )
        self.query_one("#form-ok", Button).disabled = bool(errors)
        return not errors

    @on(Input.Changed)
    @on(Select.Changed)
    def changed(self) -> None:
        self.validate()

    @on(Input.Submitted)
    def field_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        if event.input is inputs[-1]:
            self.action_submit()
        else:
            self.focus_next()

    @on(Button.Pressed, "#form-ok")
    def ok_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#form-cancel")
    def cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        if self.validate():
            self.dismiss(self.result())

    def action_cancel(self) -> None:
        self.dismiss(None)


class NewAgentScreen(FormScreen):
    """n: name, runtime, model, prompt or command, cwd."""

    title_text = "New agent"

    def __init__(self, state: FleetState) -> None:
        super().__init__()
        self.state = state

    def fields(self) -> ComposeResult:
        yield Input(placeholder="name (letters, digits, . _ -)", id="f-name")
        yield Select([(r, r) for r in RUNTIMES], value="sim", allow_blank=False, id="f-runtime")
        yield Input(placeholder="model (e.g. sonnet, claude-opus-5-5)", id="f-model")
        yield Input(placeholder="prompt (system) — or a command for tmux agents", id="f-prompt")
        yield Input(placeholder="cwd (optional)", id="f-cwd")

    def errors(self) -> list[str]:
        errors: list[str] = []
        name = self.value("f-name")
        if not name:
            errors.append("name: required")
        elif not NAME_PATTERN.match(name) or name.startswith(("-", ".")):
            errors.append("name: 1-64 of letters, digits, '.', '_', '-' (not starting with - or .)")
        elif self.state.agent_by_name(name) is not None:
            errors.append(f"name: an agent called {name!r} already exists")
        cwd = self.value("f-cwd")
        if cwd and not os.path.isdir(os.path.expanduser(cwd)):
            errors.append(f"cwd: no such directory: {cwd}")
        return errors

    def result(self) -> AgentSpec:
        runtime = self.value("f-runtime") or "sim"
        text = self.value("f-prompt")
        cwd = self.value("f-cwd")
        return AgentSpec(
            name=self.value("f-name"),
            runtime=runtime,  # type: ignore[arg-type]
            model=self.value("f-model") or None,
            prompt="" if runtime == "tmux" else text,
            command=(text or None) if runtime == "tmux" else None,
            cwd=os.path.expanduser(cwd) if cwd else None,
        )


class NewTaskScreen(FormScreen):
    """n on the board: title, spec, column, assignee."""

    title_text = "New task"

    def __init__(self, state: FleetState, column: str) -> None:
        super().__init__()
        self.state = state
        self.column = column

    def fields(self) -> ComposeResult:
        yield Input(placeholder="title", id="f-title")
        yield Input(placeholder="spec (optional)", id="f-spec")
        yield Select(
            [(c, c) for c in COLUMNS[:4]], value=self.column, allow_blank=False, id="f-column"
        )
        yield Input(placeholder="assignee (agent name, optional)", id="f-assignee")

    def errors(self) -> list[str]:
        errors: list[str] = []
        title = self.value("f-title")
        if not title:
            errors.append("title: required")
        elif len(title) > 200:
            errors.append("title: at most 200 characters")
        assignee = self.value("f-assignee")
        if assignee and self.state.agent_by_name(assignee) is None:
            errors.append(f"assignee: no agent called {assignee!r}")
        return errors

    def result(self) -> TaskSpec:
        return TaskSpec(
            title=self.value("f-title"),
            spec=self.value("f-spec"),
            column=self.value("f-column") or self.column,  # type: ignore[arg-type]
            assignee=self.value("f-assignee") or None,
        )


class ComposeScreen(FormScreen):
    """c in the inbox: to, subject, body, priority."""

    title_text = "Compose"

    def __init__(self, state: FleetState) -> None:
        super().__init__()
        self.state = state

    def fields(self) -> ComposeResult:
        yield Input(placeholder="to (agent name, @all, @idle, @sim ...)", id="f-to")
        yield Input(placeholder="subject", id="f-subject")
        yield Input(placeholder="body", id="f-body")
        yield Select(
            [(p, p) for p in ("normal", "high", "urgent")],
            value="normal",
            allow_blank=False,
            id="f-priority",
        )

    def errors(self) -> list[str]:
        errors: list[str] = []
        to = self.value("f-to")
        if not to:
            errors.append("to: required")
        elif not to.startswith("@") and to != "human" and self.state.agent_by_name(to) is None:
            errors.append(f"to: no agent called {to!r}")
        if not self.value("f-subject"):
            errors.append("subject: required")
        return errors

    def result(self) -> MessageSpec:
        return MessageSpec(
            to=self.value("f-to"),
            subject=self.value("f-subject"),
            body=self.value("f-body"),
            priority=self.value("f-priority") or "normal",  # type: ignore[arg-type]
        )


class HelpScreen(ModalScreen[None]):
    """Every key of the view it was opened from, from the binding tables."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close")
    ]

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label("Keys", classes="dialog-title")
            yield FleetTable(id="help-table")

    def on_mount(self) -> None:
        table = self.query_one(FleetTable)
        table.add_column("Key", width=16)
        table.add_column("Action", width=36)
        for key, description in self.rows:
            table.add_row(Text(key, style="bold"), Text(description))
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)


class ThreadScreen(ModalScreen[None]):
    """A message thread, oldest first; R replies to the message it was opened on."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="thread.close"),
        Binding("R", "reply", "Reply", id="thread.reply"),
    ]

    def __init__(self, message: Message, thread: list[Message]) -> None:
        super().__init__()
        self.message = message
        self.thread = thread

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog thread"):
            yield Label(Text(one_line(self.message.subject, 100)), classes="dialog-title")
            with VerticalScroll(id="thread-body"):
                for message in self.thread:
                    head = Text(
                        f"{message.sender} → {message.recipient}  ·  {message.type}"
                        f"  ·  {message.priority}  ·  {message.created_at:%Y-%m-%d %H:%M:%S}",
                        style="bold",
                    )
                    yield Static(head, classes="thread-head")
                    yield Static(Text(sanitize(message.body) or "(no body)"), classes="thread-text")
            yield Label(Text("R: reply    esc: close", style="dim"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "reply" and getattr(self.app, "readonly", False))

    def action_reply(self) -> None:
        app: FleetviewApp = self.app  # type: ignore[assignment]
        self.dismiss(None)
        app.reply_message(self.message.id, self.message.subject)

    def action_close(self) -> None:
        self.dismiss(None)


class AgentDetailScreen(ReadonlyAware, Screen[None]):
    """One agent: live output, tool calls, runs with cost, usage, and a prompt box."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="detail.back"),
        Binding("s", "focus_prompt", "Prompt", id="detail.prompt"),
        Binding("r", "restart", "Restart", id="detail.restart"),
        Binding("d", "delete", "Delete", id="detail.delete"),
        Binding("p", "pause", "Pause/resume", id="detail.pause"),
        Binding("a", "attach", "Attach", id="detail.attach"),
    ]

    def __init__(self, agent_id: str) -> None:
        super().__init__()
        self.agent_id = agent_id
        self._seen = 0
        self._tools_seen = 0
        self._info = ""
        self._runs_sig: tuple[Any, ...] = ()
        self._ready = False

    @property
    def fleet_app(self) -> FleetviewApp:
        return self.app  # type: ignore[return-value]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "attach":  # only a tmux agent has a session to attach to
            agent = self.fleet_app.state.agents.get(self.agent_id)
            return agent is not None and agent.runtime == "tmux"
        return super().check_action(action, parameters)

    def compose(self) -> ComposeResult:
        yield Static("", id="detail-head")
        with Horizontal(id="detail-main"):
            yield RichLog(max_lines=DETAIL_LOG_LINES, wrap=True, markup=False, id="detail-output")
            with Vertical(id="detail-side"):
                yield Label("tool calls", classes="side-title")
                yield RichLog(max_lines=200, wrap=False, markup=False, id="detail-tools")
                yield Label("runs", classes="side-title")
                yield FleetTable(id="detail-runs")
        yield Input(
            placeholder="prompt for this agent (enter sends; s focuses, esc leaves)",
            id="detail-prompt",
        )
        yield KeyBar(id="keybar")

    def on_mount(self) -> None:
        prompt = self.query_one("#detail-prompt", Input)
        prompt.cursor_blink = False
        prompt.display = not self.fleet_app.readonly
        runs = self.query_one("#detail-runs", FleetTable)
        runs.add_column("#", key="id", width=5)
        runs.add_column("Status", key="status", width=10)
        runs.add_column("Cost", key="cost", width=8)
        runs.add_column("Prompt", key="prompt", width=24)
        state = self.fleet_app.state
        out = state.outputs.get(self.agent_id)
        log = self.query_one("#detail-output", RichLog)
        tools = self.query_one("#detail-tools", RichLog)
        if out is not None:
            for line in out.lines:
                log.write(Text(line))
            for line in out.tools:
                tools.write(Text(line))
            self._seen = out.total
            self._tools_seen = out.tools_total
        self.query_one("#detail-output").focus()
        self._ready = True
        self.refresh_detail(full=True)
        if not out or not out.lines:
            self.fleet_app.load_logs(self.agent_id)

    def show_backlog(self, lines: list[str]) -> None:
        """Earlier output fetched from the engine when the state held none."""
        log = self.query_one("#detail-output", RichLog)
        for line in lines:
            log.write(Text(sanitize(line)))

    def refresh_detail(self, full: bool = False) -> None:
        if not self._ready:  # the repaint tick can come before on_mount
            return
        state = self.fleet_app.state
        now = self.fleet_app.now()
        agent = state.agents.get(self.agent_id)
        head = self.query_one("#detail-head", Static)
        if agent is None:
            head.update(Text("this agent was deleted", style=theme_style(self.app, "error")))
            return
        out = state.outputs.get(self.agent_id)
        if out is not None and out.total > self._seen:
            log = self.query_one("#detail-output", RichLog)
            tools = self.query_one("#detail-tools", RichLog)
            for line in out.since(self._seen):
                log.write(Text(line))
            for line in out.tools_since(self._tools_seen):
                tools.write(Text(line))
            self._seen = out.total
            self._tools_seen = out.tools_total
        u = agent.usage
        info = Text()
        info.append(agent.name, style="bold")
        info.append(f"  {agent.runtime} · {short_model(agent.model)} · ")
        info.append(
            f"{agent.status} {age(agent.status_at, now)}", style=theme_style(self.app, agent.status)
        )
        info.append(f" ({agent.status_source})", style="dim")
        info.append(
            f"  ·  {cost_text(agent.cost_usd, agent.runtime)}  ·  ctx {meter(agent.context_fraction, 10)}"
        )
        info.append(f"  ·  runs {agent.runs}  restarts {agent.restarts}\n")
        info.append(
            f"usage: in {tokens_text(u.input_tokens)} · out {tokens_text(u.output_tokens)} · "
            f"cache write 5m {tokens_text(u.cache_write_5m_tokens)} / 1h "
            f"{tokens_text(u.cache_write_1h_tokens)} · cache read {tokens_text(u.cache_read_tokens)}"
            f" · total {tokens_text(u.total)}\n",
            style="dim",
        )
        info.append("now: ", style="dim")
        info.append(one_line(agent.detail, 200) or "-")
        if info.plain != self._info or full:
            self._info = info.plain
            head.update(info)
        runs = state.runs_of(self.agent_id)[:50]
        sig = tuple((r.id, r.status, r.cost_usd) for r in runs)
        if sig != self._runs_sig or full:
            self._runs_sig = sig
            table = self.query_one("#detail-runs", FleetTable)
            table.clear()
            for run in runs:
                table.add_row(
                    styled(str(run.id)),
                    styled(
                        run.status,
                        theme_style(
                            self.app,
                            "failed"
                            if run.status == "failed"
                            else "working"
                            if run.status == "running"
                            else "muted",
                        ),
                    ),
                    styled(cost_text(run.cost_usd, agent.runtime)),
                    styled(one_line(run.prompt, 60)),
                    key=str(run.id),
                )

    @on(Input.Submitted, "#detail-prompt")
    def send_prompt(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        agent = self.fleet_app.state.agents.get(self.agent_id)
        if text and agent and not self.fleet_app.readonly:
            self.fleet_app.send_prompt(agent.name, text)
            event.input.value = ""

    def action_focus_prompt(self) -> None:
        self.query_one("#detail-prompt", Input).focus()

    def action_back(self) -> None:
        prompt = self.query_one("#detail-prompt", Input)
        if prompt.has_focus:
            self.query_one("#detail-output").focus()
        else:
            self.dismiss(None)

    def action_restart(self) -> None:
        agent = self.fleet_app.state.agents.get(self.agent_id)
        if agent:
            self.fleet_app.restart_agent(agent.name)

    def action_delete(self) -> None:
        agent = self.fleet_app.state.agents.get(self.agent_id)
        if agent:
            self.fleet_app.delete_agent(agent.name)

    def action_pause(self) -> None:
        agent = self.fleet_app.state.agents.get(self.agent_id)
        if agent:
            self.fleet_app.pause_agent(agent.name)

    def action_attach(self) -> None:
        self.fleet_app.attach_agent(self.agent_id)


def gate_choices(options: list[str]) -> list[tuple[str, str]]:
    return [(option, f"{i}. {option}") for i, option in enumerate(options, 1)]
