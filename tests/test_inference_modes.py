"""Inference modes: reasoning split before parsing, template arguments, history, budgets."""

from toolfeedback.manager import create_plugin_manager
from toolfeedback.plugins.modes import PROMPTED_INSTRUCTION, split_reasoning
from toolfeedback.registry import Catalog


def modes():
    return Catalog(create_plugin_manager())


def test_registered_with_budgets_and_template_switches():
    cat = modes()
    assert cat.names("modes") == ["no-think", "think", "think-prompted"]
    assert cat.get("modes", "no-think").default_max_new_tokens == 1024
    assert cat.get("modes", "think").default_max_new_tokens == 8192
    assert cat.get("modes", "no-think").template_kwargs() == {"enable_thinking": False}
    assert cat.get("modes", "think").template_kwargs() == {"enable_thinking": True}
    assert cat.get("modes", "think-prompted").template_kwargs() == {}


def test_split_cases():
    assert split_reasoning("<think>\nplan <tool_call>x</tool_call>\n</think>\n\nanswer") == \
        ("plan <tool_call>x</tool_call>", "answer")
    # Qwen3 thinking models whose template opens <think> in the prompt emit only </think>.
    assert split_reasoning("plan</think>answer") == ("plan", "answer")
    # Budget ran out while thinking: nothing is content, so nothing is executed.
    assert split_reasoning("<think>plan <tool_call>{}</tool_call>") == ("plan <tool_call>{}</tool_call>", "")
    assert split_reasoning("plain") == (None, "plain")
    # A server's separate reasoning field wins; think markup left in content is dropped.
    assert split_reasoning("<think>x</think>done", reasoning="r") == ("r", "done")


def test_history_keeps_reasoning_only_in_think_modes():
    cat = modes()
    msg = {"role": "assistant", "content": "a"}
    assert cat.get("modes", "think").history_message(msg, "r")["reasoning_content"] == "r"
    assert "reasoning_content" not in cat.get("modes", "no-think").history_message(msg, "r")


def test_prompted_think_adds_instruction_without_mutating():
    mode = modes().get("modes", "think-prompted")
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "q"}]
    out = mode.prepare_messages(msgs)
    assert out[0]["content"] == f"S\n\n{PROMPTED_INSTRUCTION}" and msgs[0]["content"] == "S"
    assert mode.prepare_messages(msgs[1:])[0] == {"role": "system", "content": PROMPTED_INSTRUCTION}


def test_modes_satisfy_their_base_class():
    from toolfeedback.contracts import Mode, contract_problems

    cat = modes()
    assert all(isinstance(m, Mode) for _, m in cat.items("modes"))
    assert not [v for v in contract_problems(cat) if v.startswith(("modes", "backends"))]
    # capabilities, not names, tell the core what a mode needs
    assert [(n, m.thinking, m.native_thinking) for n, m in cat.items("modes")] == [
        ("no-think", False, False), ("think", True, True), ("think-prompted", True, False)]
