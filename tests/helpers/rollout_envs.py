"""Small FTRL-format environments and a scripted generator for rollout tests."""

from __future__ import annotations

import json
import threading
import time

from toolfeedback.generation import Completion

CAPITALS = {"Avalonia": "Brindle", "Corvia": "Dunmore", "Elaris": "Fenwick", "Galenor": "Halvard",
            "Isolia": "Jorvik", "Kestria": "Lumen"}
POPULATIONS = {"Brindle": "1,204", "Dunmore": "88,310", "Fenwick": "5,555", "Halvard": "912",
               "Jorvik": "47,000", "Lumen": "3,141"}

CODES = {
    "get_capital": "def get_capital(country):\n"
                   f"    table = {CAPITALS!r}\n"
                   "    if country not in table:\n"
                   "        raise ValueError('unknown country ' + str(country))\n"
                   "    return {'country': country, 'capital': table[country]}\n",
    "get_population": "def get_population(city):\n"
                      f"    table = {POPULATIONS!r}\n"
                      "    return table.get(city, 'no such city')\n",
}
TOOLS = [
    {"type": "function", "function": {"name": "get_capital", "description": "Capital city of a country.",
     "parameters": {"type": "object", "properties": {"country": {"type": "string"}}, "required": ["country"]}}},
    {"type": "function", "function": {"name": "get_population", "description": "Population of a city.",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
]


def env_record(country: str) -> dict:
    """A multi-hop environment: the population of the capital of ``country``."""
    capital = CAPITALS[country]
    return {
        "id": f"env-{country}",
        "messages": [{"role": "system", "content": "Answer with the tools."},
                     {"role": "user", "content": f"What is the population of the capital of {country}?"}],
        "tools": json.dumps(TOOLS), "codes": json.dumps(CODES),
        "unsolved_set": json.dumps({"get_capital": [capital], "get_population": [POPULATIONS[capital]]}),
        "solve_rate": 0.0, "answer": POPULATIONS[capital], "data_source": "test", "split": "train",
        "pattern": "multi-hop",
    }


def write_envs(path, countries=tuple(CAPITALS)) -> list[dict]:
    """Write one environment per country to ``path``; return the records."""
    records = [env_record(c) for c in countries]
    with open(path, "w", encoding="utf-8") as handle:
        for rec in records:
            handle.write(json.dumps(rec) + "\n")
    return records


def call(name: str, **arguments) -> str:
    """Hermes tool-call markup for one call."""
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def solver(request) -> str:
    """The right next response for an environment of :func:`env_record`."""
    msgs = request.messages
    question = next(m["content"] for m in msgs if m["role"] == "user")
    country = question.rsplit(" ", 1)[1].rstrip("?")
    tool_msgs = [m for m in msgs if m["role"] == "tool"]
    if not tool_msgs:
        return call("get_capital", country=country)
    if len(tool_msgs) == 1:
        return call("get_population", city=json.loads(tool_msgs[0]["content"])["capital"])
    return f"The population is {tool_msgs[-1]['content']}."


class ScriptedGenerator:
    """A Generator test double: ``script(request) -> text``; records each batch's size."""

    model_name = "scripted"

    def __init__(self, script=solver, delay: float = 0.0):
        self.script, self.delay = script, delay
        self.batches: list[int] = []
        self._lock = threading.Lock()

    def generate(self, requests, params):
        with self._lock:
            self.batches.append(len(requests))
        if self.delay:
            time.sleep(self.delay)
        return [[Completion(text=self.script(r), prompt_tokens=10, completion_tokens=5)
                 for _ in range(params.n)] for r in requests]

    def close(self):
        pass
