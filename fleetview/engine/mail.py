"""Messages, threads, groups and decision gates.

A message goes to an agent, to `human`, or to a group (`@all`, `@idle`,
`@<runtime>`), which is resolved to its members when it is sent. A gate is a
question an agent put to the human; answering it (resolve, a reply to its
message, or keys) lets the agent go on.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from fleetview.errors import Conflict, Invalid, NotFound
from fleetview.models import HUMAN, RUNTIMES, Gate, Message, MessageSpec, utcnow
from fleetview.store import StoreError

if TYPE_CHECKING:
    from fleetview.engine.core import Engine

GROUPS = ("@all", "@idle", *(f"@{r}" for r in RUNTIMES))


class MailMixin:
    """Message and gate operations of the Engine."""

    def list_messages(
        self: Engine,
        recipient: str | None = None,
        unread_only: bool = False,
        limit: int | None = None,
    ) -> list[Message]:
        messages = sorted(self._messages.values(), key=lambda m: m.id, reverse=True)
        if recipient is not None:
            messages = [m for m in messages if m.recipient == recipient or recipient in m.members]
        if unread_only:
            messages = [m for m in messages if m.read_at is None]
        return messages[:limit] if limit is not None else messages

    def get_message(self: Engine, message_id: int) -> Message:
        message = self._messages.get(int(message_id))
        if message is None:
            raise NotFound(f"unknown message {message_id}")
        return message

    def thread(self: Engine, message_id: int) -> list[Message]:
        root = self.get_message(message_id)
        return sorted(
            (m for m in self._messages.values() if m.thread_id == root.thread_id),
            key=lambda m: m.id,
        )

    def _members(self: Engine, recipient: str) -> list[str]:
        if recipient == HUMAN:
            return []
        if recipient.startswith("@"):
            if recipient not in GROUPS:
                raise Invalid(f"unknown group {recipient!r}: use {', '.join(GROUPS)}")
            agents = self.list_agents()
            if recipient == "@idle":
                agents = [a for a in agents if a.status == "idle"]
            elif recipient != "@all":
                agents = [a for a in agents if a.runtime == recipient[1:]]
            return [a.name for a in agents]
        if recipient not in self._by_name:
            raise NotFound(f"unknown recipient {recipient!r}: no such agent")
        return [recipient]

    async def send_message(
        self: Engine, spec: MessageSpec, thread_id: int | None = None
    ) -> Message:
        members = self._members(spec.to)
        if spec.sender != HUMAN and spec.sender not in self._by_name:
            raise NotFound(f"unknown sender {spec.sender!r}")
        message_id = self._alloc("messages")
        message = Message(
            id=message_id,
            thread_id=thread_id or message_id,
            sender=spec.sender,
            recipient=spec.to,
            members=members,
            type=spec.type,
            priority=spec.priority,
            subject=spec.subject,
            body=spec.body,
            payload=spec.payload,
        )
        self._messages[message.id] = message
        try:
            await self._save("message.created", message)
        except StoreError:  # not saved: not in the inbox either
            del self._messages[message.id]
            raise
        return message

    async def reply(self: Engine, message_id: int, body: str, sender: str = HUMAN) -> Message:
        """Answer in the message's thread; a reply to an agent's question answers its gate."""
        if not body.strip():
            raise Invalid("a reply needs a body")
        original = self.get_message(message_id)
        to = original.sender if original.sender != sender else original.recipient
        if to != HUMAN and not to.startswith("@") and to not in self._by_name:
            raise Conflict(f"cannot reply: agent {to!r} no longer exists")
        subject = (
            original.subject if original.subject.startswith("Re: ") else f"Re: {original.subject}"
        )
        message = await self.send_message(
            MessageSpec(
                to=to,
                subject=subject[:300],
                body=body,
                sender=sender,
                priority=original.priority if original.priority != "urgent" else "high",
            ),
            thread_id=original.thread_id,
        )
        if original.read_at is None and sender == HUMAN:
            await self.mark_read(original.id)
        gate_id = original.payload.get("gate_id")
        if (
            gate_id is not None
            and gate_id in self._gates
            and self._gates[gate_id].status == "pending"
        ):
            await self.resolve_gate(gate_id, body.strip())
        return message

    async def mark_read(self: Engine, message_id: int) -> Message:
        message = self.get_message(message_id)
        if message.read_at is None:
            message.read_at = utcnow()
            await self._save("message.updated", message)
        return message

    async def delete_message(self: Engine, message_id: int) -> None:
        message = self.get_message(message_id)
        del self._messages[message.id]
        await self._commit(
            [("DELETE FROM messages WHERE id = ?", (message.id,))],
            [self.events.make("message.deleted", message.id, {"id": message.id})],
        )

    # -- gates ---------------------------------------------------------------

    def list_gates(self: Engine, status: str | None = None) -> list[Gate]:
        gates = sorted(self._gates.values(), key=lambda g: g.id, reverse=True)
        return [g for g in gates if status is None or g.status == status]

    def get_gate(self: Engine, gate_id: int) -> Gate:
        gate = self._gates.get(int(gate_id))
        if gate is None:
            raise NotFound(f"unknown gate {gate_id}")
        return gate

    async def resolve_gate(self: Engine, gate_id: int, resolution: str) -> Gate:
        gate = self.get_gate(gate_id)
        if gate.status != "pending":
            raise Conflict(f"gate {gate.id} is already {gate.status}")
        choice = _choose(resolution, gate.options)
        await self._close_gate(gate, choice)
        return gate

    async def _close_gate(
        self: Engine, gate: Gate, resolution: str, status: str = "resolved"
    ) -> None:
        gate.status = status  # type: ignore[assignment]
        gate.resolution = resolution
        gate.resolved_at = utcnow()
        await self._save("gate.updated", gate)
        for message in self._messages.values():
            if message.payload.get("gate_id") == gate.id and message.read_at is None:
                message.read_at = utcnow()
                await self._save("message.updated", message)
        waiter = self._gate_waiters.pop(gate.id, None)
        if waiter is not None and not waiter.done():
            if status == "resolved":
                waiter.set_result(resolution)
            else:
                waiter.cancel()

    async def _answer_pending(self: Engine, agent_id: str, keys: list[str]) -> bool:
        """Keys sent to an agent waiting in `ask` answer its gate (sim, api)."""
        for gate in self.list_gates("pending"):
            if gate.agent_id == agent_id and gate.id in self._gate_waiters:
                answer = " ".join(k for k in keys if k.lower() not in ("enter", "c-m"))
                await self.resolve_gate(
                    gate.id, answer or (gate.options[0] if gate.options else "")
                )
                return True
        return False

    async def _ask(self: Engine, agent_id: str, question: str, options: list[str]) -> str:
        agent = self._agents[agent_id]
        handle = self._handles[agent_id]
        run = self._current_run(agent_id)
        gate = Gate(
            id=self._alloc("gates"),
            agent_id=agent.id,
            agent_name=agent.name,
            run_id=run.id if run else None,
            task_id=run.task_id if run else None,
            question=question,
            options=options,
        )
        self._gates[gate.id] = gate
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._gate_waiters[gate.id] = waiter
        previous = agent.status
        handle.set_status("waiting", "event", question)
        await self._save("gate.updated", gate)
        body = "\n".join(f"{i}. {option}" for i, option in enumerate(options, 1))
        await self.send_message(
            MessageSpec(
                to=HUMAN,
                sender=agent.name,
                type="decision_gate",
                priority="high",
                subject=question[:300],
                body=body,
                payload={"gate_id": gate.id},
            )
        )
        try:
            answer = await waiter
        finally:
            self._gate_waiters.pop(gate.id, None)
        if agent.status == "waiting":
            handle.set_status(
                previous if previous != "waiting" else "working", "event", f"answered: {answer}"
            )
        return answer

    async def _agent_message(
        self: Engine, agent_id: str, subject: str, body: str, type: str, priority: str
    ) -> None:
        agent = self._agents.get(agent_id)
        if agent is None:
            return
        await self.send_message(
            MessageSpec(
                to=HUMAN,
                sender=agent.name,
                subject=subject[:300] or "(no subject)",
                body=body,
                type=type,
                priority=priority,
            )  # type: ignore[arg-type]
        )


def _choose(answer: str, options: list[str]) -> str:
    """`2` picks the second option; text matching an option picks it; else the text."""
    text = answer.strip()
    if text.isdigit() and options and 1 <= int(text) <= len(options):
        return options[int(text) - 1]
    for option in options:
        if option.lower() == text.lower():
            return option
    return text
