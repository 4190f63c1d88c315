"""Tool-call formats: hermes (the release's parsing quirks), llama3, openai."""

from __future__ import annotations

import json

from toolfeedback.plugins.format_hermes import HermesFormat
from toolfeedback.plugins.format_llama3 import Llama3Format
from toolfeedback.plugins.format_openai import OpenAIFormat
from toolfeedback.types import ToolCall

hermes, llama3, openai = HermesFormat(), Llama3Format(), OpenAIFormat()


def test_hermes_several_calls_and_content():
    text = ('Let me check.\n<tool_call>\n{"name": "a", "arguments": {"x": 1}}\n</tool_call>\n'
            '<tool_call>{"name": "b", "arguments": "{\\"y\\": [2]}"}</tool_call><|im_end|>')
    parsed = hermes.parse(text)
    assert parsed.content == "Let me check."
    assert parsed.calls == (ToolCall("a", {"x": 1}), ToolCall("b", {"y": [2]}))


def test_hermes_release_quirks():
    # lstrip of the character set "<tool_call>" eats a leading "call" too
    assert hermes.parse('<tool_call>call{"name": "a", "arguments": {}}</tool_call>').calls == (ToolCall("a", {}),)
    # a JSON-string argument decoding to a list is still a call (it fails when run)
    assert hermes.parse('<tool_call>{"name": "a", "arguments": "[1]"}</tool_call>').calls == (ToolCall("a", [1]),)
    # dropped: no name, empty name, no arguments, a number as arguments, a list as the call
    for bad in ('{"arguments": {}}', '{"name": "", "arguments": {}}', '{"name": "a"}',
                '{"name": "a", "arguments": 3}', '["a", {}]', '{broken'):
        parsed = hermes.parse(f"x <tool_call>{bad}</tool_call>")
        assert parsed.calls == () and parsed.content == f"x <tool_call>{bad}</tool_call>", bad
    # one good call among bad ones keeps only the good one; content before the first tag
    parsed = hermes.parse('hi <tool_call>{bad</tool_call><tool_call>{"name": "a", "arguments": {}}</tool_call>')
    assert parsed.content == "hi" and parsed.calls == (ToolCall("a", {}),)
    # EOS suffixes are stripped (endoftext first, then im_end), then the text is stripped
    assert hermes.parse("  answer <|im_end|>\n<|endoftext|> ").content == "answer"
    assert hermes.parse("answer<|endoftext|><|im_end|>").content == "answer<|endoftext|>"


def test_hermes_render_round_trip():
    calls = (ToolCall("a", {"x": "é"}), ToolCall("b", {}))
    text = hermes.render("thinking", calls)
    parsed = hermes.parse(text)
    assert parsed.calls == calls and parsed.content == "thinking"


def test_llama3():
    parsed = llama3.parse('<|python_tag|>{"name": "a", "parameters": {"x": 1}}; '
                          '{"name": "b", "parameters": "{\\"y\\": 2}"}<|eom_id|>')
    assert parsed.calls == (ToolCall("a", {"x": 1}), ToolCall("b", {"y": 2}))
    assert llama3.parse('{"name": "a", "parameters": {}}').calls == (ToolCall("a", {}),)
    plain = llama3.parse("The answer is {not json}")
    assert plain.calls == () and plain.content == "The answer is {not json}"
    calls = (ToolCall("a", {"x": [1]}),)
    assert llama3.parse(llama3.render("", calls)).calls == calls


def test_openai_structured():
    message = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "a", "arguments": '{"x": 1}'}},
        {"id": "c2", "type": "function", "function": {"name": "b", "arguments": ""}},
        {"id": "c3", "type": "function", "function": {"name": "c", "arguments": "{oops"}},
        {"id": "c4", "type": "function", "function": {"arguments": "{}"}}]}
    parsed = openai.parse(message)
    assert parsed.calls == (ToolCall("a", {"x": 1}, "c1"), ToolCall("b", {}, "c2"))
    assert parsed.content is None
    assert openai.parse(json.dumps(message)).calls == parsed.calls
    assert openai.parse("plain words").content == "plain words"
    assert openai.parse(openai.render("x", parsed.calls)).calls == parsed.calls


def test_plugin_modules_import_light():
    import subprocess
    import sys

    code = ("import sys, toolfeedback.plugins.format_hermes, toolfeedback.plugins.format_llama3, "
            "toolfeedback.plugins.format_openai, toolfeedback.plugins.rewards_solve, "
            "toolfeedback.plugins.score_verb\n"
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'subprocess', 'toolfeedback.runtime.sandbox') "
            "if m in sys.modules]\nprint(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
