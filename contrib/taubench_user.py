"""tau-bench's simulated user, played by any generator (a local model or an OpenAI-compatible
server), with tau-bench's own user-simulation prompt and stop rule.

The user model gets tau-bench's system prompt with the task's instruction, then the agent's
opening line ``"Hi! How can I help you today?"``; each of its replies becomes the user's
message to the agent, each reply of the agent without a tool call the next "user" message
of the user model (the roles are mirrored). A reply containing ``###STOP###`` ends the
conversation. The object follows the agent loop's user hook: ``reply(messages)`` is called
with the agent's chat when the agent answered without a tool call and returns the user's
next message, or ``None`` when the user ends the conversation.
"""

from __future__ import annotations

from typing import Any

STOP = "###STOP###"
OPENING = "Hi! How can I help you today?"
_RULES = (
    "Rules:\n"
    "- Just generate one line at a time to simulate the user's message.\n"
    "- Do not give away all the instruction at once. Only provide the information that is "
    "necessary for the current step.\n"
    "- Do not hallucinate information that is not provided in the instruction. For example, if "
    "the agent asks for the order id but it is not mentioned in the instruction, do not make up "
    "an order id, just say you do not remember or have it.\n"
    "- If the instruction goal is satisified, generate '###STOP###' as a standalone message "
    "without anything else to end the conversation.\n"
    "- Do not repeat the exact instruction in the conversation. Instead, use your own words to "
    "convey the same information.\n"
    "- Try to make the conversation as natural as possible, and stick to the personalities in "
    "the instruction.")


def system_prompt(instruction: str | None) -> str:
    """tau-bench's user-simulation system prompt (``LLMUserSimulationEnv``), verbatim."""
    shown = f"\n\nInstruction: {instruction}\n" if instruction is not None else ""
    return f"You are a user interacting with an agent.{shown}\n{_RULES}"


class SimulatedUser:
    """One simulated user for one task (see the module doc).

    ``generator`` is a backend's loaded generator (``generate(requests, params)``),
    ``params`` its sampling parameters, ``mode`` the inference mode whose reasoning split
    applies to the user model's replies (None: the text as it is).
    """

    def __init__(self, instruction: str, generator, params, mode=None):
        self.generator = generator
        self.params = params
        self.mode = mode
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": system_prompt(instruction)},
            {"role": "user", "content": OPENING}]
        self.stopped = False

    def _generate(self) -> str:
        from toolfeedback.generation import ChatRequest

        request = ChatRequest(messages=tuple(self.messages))
        completion = self.generator.generate([request], self.params)[0][0]
        text = completion.text or ""
        if self.mode is not None:
            text = self.mode.split(text, getattr(completion, "reasoning", None))[1]
        self.messages.append({"role": "assistant", "content": text})
        return text

    def opening(self) -> str:
        """The user's first message to the agent."""
        return self._generate()

    def reply(self, messages: list[dict[str, Any]]) -> str | None:
        """The user's answer to the agent's last reply in ``messages``, or ``None`` when the
        user ends the conversation (its reply holds ``###STOP###``)."""
        if self.stopped:
            return None
        last = next((m for m in reversed(messages) if m.get("role") == "assistant"), None)
        self.messages.append({"role": "user", "content": (last or {}).get("content") or ""})
        text = self._generate()
        if STOP in text:
            self.stopped = True
            return None
        return text
