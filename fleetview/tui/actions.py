"""What the TUI asks of the engine: each call in its own worker, errors shown
as notifications, confirmations and forms before anything destructive."""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import SuspendNotSupported

from fleetview.client import FleetClient
from fleetview.errors import FleetError
from fleetview.models import AgentSpec, MessageSpec, RunRequest, TaskSpec
from fleetview.tui.attach import attach_command, attach_env, attach_problem
from fleetview.tui.screens import (
    AgentDetailScreen,
    ComposeScreen,
    ConfirmScreen,
    NewAgentScreen,
    NewTaskScreen,
    PickScreen,
    TextPromptScreen,
    ThreadScreen,
    gate_choices,
)
from fleetview.tui.state import (
    NeedsYou,
    one_line,
)

if TYPE_CHECKING:
    from fleetview.tui.app import FleetviewApp


class FleetActions:
    """The engine calls of FleetviewApp (agents, tasks, mail)."""

    def engine(
        self: FleetviewApp, call: Callable[[FleetClient], Awaitable[Any]], done: str = ""
    ) -> None:
        if self.client is None:
            self.notify("no engine attached (static snapshot)", severity="warning")
            return
        client = self.client

        async def run() -> None:
            try:
                await call(client)
            except FleetError as exc:
                self.notify(one_line(str(exc), 200), severity="error", timeout=6)
            else:
                if done:
                    self.notify(done, timeout=3)

        self.run_worker(run(), group="engine")

    def open_agent(self: FleetviewApp, agent_id: str) -> None:
        self.push_screen(AgentDetailScreen(agent_id))

    @work(group="logs")
    async def load_logs(self: FleetviewApp, agent_id: str) -> None:
        agent = self.state.agents.get(agent_id)
        if agent is None or self.client is None:
            return
        try:
            lines = await self.client.logs(agent.name, 200)
        except FleetError:
            return
        screen = self.screen
        if isinstance(screen, AgentDetailScreen) and screen.agent_id == agent_id:
            screen.show_backlog(lines)

    def new_agent(self: FleetviewApp) -> None:
        def created(spec: AgentSpec | None) -> None:
            if spec is not None:
                self.engine(lambda c: c.create_agent(spec), f"agent {spec.name} created")

        self.push_screen(NewAgentScreen(self.state), created)

    def delete_agent(self: FleetviewApp, name: str) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                if isinstance(self.screen, AgentDetailScreen):
                    self.pop_screen()
                self.engine(lambda c: c.delete_agent(name), f"agent {name} deleted")

        self.push_screen(ConfirmScreen(f"Delete agent {name}? Its runs stop."), confirmed)

    def restart_agent(self: FleetviewApp, name: str) -> None:
        self.engine(lambda c: c.restart_agent(name), f"agent {name} restarting")

    def pause_agent(self: FleetviewApp, name: str) -> None:
        """p: stop a running agent, or start a stopped one again."""
        agent = self.state.agent_by_name(name)
        if agent is not None and agent.status == "stopped":
            self.engine(lambda c: c.restart_agent(name), f"agent {name} resumed")
        else:
            self.engine(lambda c: c.stop_agent(name), f"agent {name} stopped")

    def attach_agent(self: FleetviewApp, agent_id: str) -> None:
        """a: hand the terminal to a tmux agent's session until it detaches."""
        agent = self.state.agents.get(agent_id)
        if agent is None or agent.runtime != "tmux":
            return
        if self.home is None:
            self.notify("attach: this TUI does not know the fleet's home", severity="warning")
            return
        argv = attach_command(self.home, agent.id)
        problem = attach_problem(argv)
        if problem:
            self.notify(f"cannot attach to {agent.name}: {problem}", severity="error", timeout=5)
            return
        try:
            with self.suspend():
                subprocess.run(argv, env=attach_env(), check=False)
        except SuspendNotSupported:
            self.notify("attach needs a real terminal", severity="warning")
            return
        self.state.dirty |= {self.current_view, "detail"}
        self.refresh(layout=True)

    def prompt_agent(self: FleetviewApp, name: str) -> None:
        def entered(text: str | None) -> None:
            if text:
                self.send_prompt(name, text)

        self.push_screen(TextPromptScreen(f"Prompt for {name}", "what should it do?"), entered)

    def send_prompt(self: FleetviewApp, name: str, text: str) -> None:
        self.engine(lambda c: c.send(name, RunRequest(prompt=text)), f"sent to {name}")

    def new_task(self: FleetviewApp, column: str) -> None:
        def created(spec: TaskSpec | None) -> None:
            if spec is not None:
                self.engine(lambda c: c.add_task(spec), "task added")

        self.push_screen(NewTaskScreen(self.state, column), created)

    def move_task(self: FleetviewApp, task_id: int, column: str) -> None:
        task = self.state.tasks.get(task_id)
        if task is not None:  # show it at once; the event confirms it
            task.column = column  # type: ignore[assignment]
            self.state.dirty.add("board")
            self.repaint()
        self.engine(lambda c: c.move_task(task_id, column))

    def assign_task(self: FleetviewApp, task_id: int) -> None:
        choices = [("", "(nobody)")] + [
            (a.name, f"{a.name}  {a.status}") for a, _ in self.state.agent_tree()
        ]

        def picked(name: str | None) -> None:
            if name is not None:
                self.engine(
                    lambda c: c.assign_task(task_id, name or None),
                    f"task #{task_id} → {name or 'nobody'}",
                )

        self.push_screen(PickScreen(f"Assign task #{task_id} to", choices), picked)

    def add_dep(self: FleetviewApp, task_id: int) -> None:
        choices = [
            (str(t.id), f"#{t.id} {one_line(t.title, 50)} ({t.column})")
            for t in sorted(self.state.tasks.values(), key=lambda t: t.id)
            if t.id != task_id
        ]

        def picked(dep: str | None) -> None:
            if dep:
                self.engine(
                    lambda c: c.add_dep(task_id, int(dep)), f"#{task_id} now waits for #{dep}"
                )

        self.push_screen(PickScreen(f"Task #{task_id} depends on", choices), picked)

    def delete_task(self: FleetviewApp, task_id: int, title: str) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self.engine(lambda c: c.remove_task(task_id), f"task #{task_id} removed")

        self.push_screen(ConfirmScreen(f"Remove task #{task_id} {one_line(title, 40)}?"), confirmed)

    def answer_need(self: FleetviewApp, need: NeedsYou) -> None:
        if need.kind == "agent":
            self.open_agent(need.ref)
            return
        if self.readonly:
            return
        gate_id = int(need.ref)

        def answered(answer: str | None) -> None:
            if answer:
                self.engine(lambda c: c.resolve_gate(gate_id, answer), f"answered: {answer}")

        if need.options:
            self.push_screen(
                PickScreen(one_line(need.text, 70), gate_choices(need.options)), answered
            )
        else:
            self.push_screen(TextPromptScreen(one_line(need.text, 70), "answer"), answered)

    @work(group="thread")
    async def open_thread(self: FleetviewApp, message_id: int) -> None:
        if self.client is None:
            return
        try:
            message = await self.client.get_message(message_id)
            thread = await self.client.thread(message_id)
            if message.read_at is None and not self.readonly:
                await self.client.mark_read(message_id)
        except FleetError as exc:
            self.notify(one_line(str(exc), 200), severity="error")
            return
        await self.push_screen(ThreadScreen(message, thread))

    def reply_message(self: FleetviewApp, message_id: int, subject: str) -> None:
        def entered(body: str | None) -> None:
            if body:
                self.engine(lambda c: c.reply(message_id, body), "reply sent")

        self.push_screen(
            TextPromptScreen(f"Reply to: {one_line(subject, 60)}", "your reply"), entered
        )

    def mark_read(self: FleetviewApp, message_id: int) -> None:
        self.engine(lambda c: c.mark_read(message_id))

    def compose_message(self: FleetviewApp) -> None:
        def written(spec: MessageSpec | None) -> None:
            if spec is not None:
                self.engine(lambda c: c.send_message(spec), f"sent to {spec.to}")

        self.push_screen(ComposeScreen(self.state), written)
