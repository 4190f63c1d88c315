"""The ``llm`` construction stages: each stage prompts a generator model and validates.

Prompts are templates in ``toolfeedback/plugins/data/llm_*.txt`` (``string.Template``,
``$name`` placeholders). Every reply is parsed and validated (JSON schema of the stage,
tool documents, arguments against documents, multi-hop calls that carry the previous
answer, code that compiles, uses only the standard library, and returns the expected
answers in the sandbox); an invalid reply is sent back with the problem and retried up
to ``config.retries`` times, then the environment is rejected with that reason.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
from functools import lru_cache
from importlib import resources
from string import Template
from typing import Any, Callable

from toolfeedback import hookimpl
from toolfeedback.build.construction import Draft, Question, Rejected
from toolfeedback.ftrl import self_contained
from toolfeedback.generation import ChatRequest, SamplingParams
from toolfeedback.runtime.matching import answer_matches
from toolfeedback.types import Environment, Pattern, Scenario, SubQuestion, ToolCall, ToolSpec
from toolfeedback.contracts import Stage
from toolfeedback.pysource import parse as parse_source

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@lru_cache(maxsize=None)
def prompt(name: str) -> Template:
    """The prompt template ``llm_<name>.txt`` shipped with the package."""
    return Template(resources.files("toolfeedback.plugins").joinpath(f"data/llm_{name}.txt")
                    .read_text(encoding="utf-8"))


def ask(ctx, stage: str, text: str, parse: Callable[[str], Any]) -> Any:
    """Send ``text``; ``parse(reply)`` returns the value or raises ``ValueError``. Invalid
    replies are answered with the problem and retried; then :class:`Rejected`."""
    if ctx.generator is None:
        raise Rejected("the llm stages need a generator model", stage=stage)
    messages = [{"role": "system", "content": prompt("system").template},
                {"role": "user", "content": text}]
    problem = ""
    for attempt in range(1 + max(0, ctx.config.retries)):
        params = SamplingParams(max_new_tokens=4096, temperature=0.0 if attempt == 0 else 0.7)
        reply = ctx.generator.generate([ChatRequest(messages=tuple(messages))], params)[0][0].text
        try:
            return parse(reply or "")
        except (ValueError, KeyError, TypeError) as exc:
            problem = str(exc) or type(exc).__name__
        messages += [{"role": "assistant", "content": reply or ""},
                     {"role": "user", "content": f"That reply is invalid: {problem}. "
                                                 "Reply again, correctly, in the requested format only."}]
    raise Rejected(f"invalid {stage} output after {1 + max(0, ctx.config.retries)} attempts: {problem}",
                   stage=stage)


# ----------------------------------------------------------------------- validation


def extract_json(reply: str) -> dict:
    """The JSON object in a reply (bare, or in a fenced block, or after some prose)."""
    fenced = re.search(r"```(?:json)?\s*\n(.*?)```", reply, re.S)
    text = fenced.group(1) if fenced else reply
    start = text.find("{")
    if start < 0:
        raise ValueError("the reply holds no JSON object")
    try:
        obj, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as exc:
        from toolfeedback.jsonl import json_error

        raise ValueError(f"the reply is not valid JSON ({json_error(exc)[len('invalid JSON: '):]})") from None
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    return obj


def parse_sub_questions(raw: Any, pattern: Any = None) -> tuple[Pattern, tuple[SubQuestion, ...]]:
    """Validate a decomposition (``[{"id", "question", "answer", "depends_on"}]``)."""
    if not isinstance(raw, list) or not raw:
        raise ValueError("sub_questions must be a non-empty list")
    subs: list[SubQuestion] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"sub_questions[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected an object")
        sid = str(item.get("id") or f"q{i + 1}")
        deps = item.get("depends_on") or []
        if not isinstance(deps, list):
            raise ValueError(f"{where}.depends_on: expected a list of ids")
        deps = [f"q{d + 1}" if isinstance(d, int) else str(d) for d in deps]
        for key in ("question", "answer"):
            if not isinstance(item.get(key), (str, int, float)) or not str(item.get(key)).strip():
                raise ValueError(f"{where}.{key}: expected a non-empty string")
        if sid in seen:
            raise ValueError(f"{where}.id: duplicate id {sid!r}")
        unknown = [d for d in deps if d not in seen]
        if unknown:
            raise ValueError(f"{where}.depends_on: {', '.join(unknown)} is not an earlier sub-question")
        seen.add(sid)
        subs.append(SubQuestion(id=sid, question=str(item["question"]).strip(),
                                answer=str(item["answer"]).strip(), depends_on=tuple(deps)))
    chained = any(s.depends_on for s in subs)
    roots = sum(1 for s in subs if not s.depends_on)
    derived = Pattern.SINGLE_HOP if len(subs) == 1 else (
        Pattern.PARALLEL_SINGLE_HOP if not chained else
        Pattern.MULTI_HOP if roots == 1 and all(len(s.depends_on) <= 1 for s in subs)
        else Pattern.PARALLEL_MULTI_HOP)
    if pattern is not None:
        try:
            claimed = Pattern(pattern)
        except ValueError:
            raise ValueError(f"pattern: unknown {pattern!r}; expected one of "
                             + ", ".join(p.value for p in Pattern)) from None
        if claimed != derived:
            raise ValueError(f"pattern: {claimed.value!r} does not fit the sub-questions "
                             f"(their dependencies make it {derived.value!r})")
    return derived, tuple(subs)


def parse_toolset(obj: Any, scenario: Scenario, *, distractors: bool = False
                  ) -> tuple[dict[str, ToolSpec], dict[str, ToolCall], tuple[str, ...]]:
    """Validate ``{"tools": [...], "calls": {...}}`` against the scenario."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object with tools and calls")
    from toolfeedback.ftrl import FieldError, parse_tools

    if not isinstance(obj.get("tools"), list) or not obj["tools"]:
        raise ValueError("tools: expected a non-empty list of function schemas")
    try:
        specs = parse_tools(obj["tools"])
    except FieldError as exc:
        raise ValueError(str(exc)) from None
    docs: dict[str, ToolSpec] = {}
    for spec in specs:
        if not NAME.match(spec.name):
            raise ValueError(f"tool name {spec.name!r} is not a valid Python identifier")
        if spec.name in docs:
            raise ValueError(f"tool {spec.name!r} is defined twice")
        params = spec.parameters
        if params.get("type") != "object" or not isinstance(params.get("properties"), dict):
            raise ValueError(f"tool {spec.name}: parameters must be a JSON schema of type object with properties")
        if not spec.description.strip():
            raise ValueError(f"tool {spec.name}: description is empty")
        docs[spec.name] = spec
    raw_calls = obj.get("calls")
    if not isinstance(raw_calls, dict):
        raise ValueError("calls: expected an object mapping sub-question id -> call")
    answers = {s.id: s.answer for s in scenario.sub_questions}
    calls: dict[str, ToolCall] = {}
    for sq in scenario.sub_questions:
        call = raw_calls.get(sq.id)
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise ValueError(f"calls.{sq.id}: missing (every sub-question needs a call)")
        spec = docs.get(call["name"])
        if spec is None:
            raise ValueError(f"calls.{sq.id}: unknown tool {call['name']!r}")
        args = call.get("arguments", {})
        if isinstance(args, str):
            args = json.loads(args)
        if not isinstance(args, dict):
            raise ValueError(f"calls.{sq.id}.arguments: expected an object")
        props = spec.parameters["properties"]
        missing = [r for r in spec.parameters.get("required", []) if r not in args]
        unknown = [k for k in args if k not in props]
        if missing or unknown:
            raise ValueError(f"calls.{sq.id}: arguments do not fit tool {spec.name}"
                             + (f"; missing {', '.join(missing)}" if missing else "")
                             + (f"; undeclared {', '.join(unknown)}" if unknown else ""))
        text = json.dumps(args, ensure_ascii=False).lower()
        for dep in sq.depends_on:
            if answers[dep].lower() not in text:
                raise ValueError(f"calls.{sq.id}: must pass the answer of {dep} ({answers[dep]!r}) "
                                 "as an argument")
        calls[sq.id] = ToolCall(name=spec.name, arguments=args)
    extra: tuple[str, ...] = ()
    if distractors:
        names = obj.get("distractors") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("distractors: expected a list of tool names")
        used = {c.name for c in calls.values()}
        bad = [n for n in names if n not in docs or n in used]
        if bad:
            raise ValueError(f"distractors: {', '.join(bad)} must be listed tools that no call uses")
        extra = tuple(names)
    return docs, calls, extra


def parse_code(reply: str, name: str) -> str:
    """The Python block of ``reply``; it must compile, define ``name`` and import only the
    standard library."""
    match = re.search(r"```(?:python|py)?\s*\n(.*?)```", reply, re.S)
    code = match.group(1) if match else reply
    try:
        tree = parse_source(code)
    except SyntaxError as exc:
        raise ValueError(f"the code does not compile: line {exc.lineno}: {exc.msg}") from None
    if name not in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}:
        raise ValueError(f"the code does not define a function named {name}")
    for node in ast.walk(tree):
        mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        for mod in mods:
            if mod.split(".")[0] not in sys.stdlib_module_names:
                raise ValueError(f"the code imports {mod!r}, which is not in the standard library")
    return code.strip() + "\n"


# ----------------------------------------------------------------------- stages


def _sub_question_lines(scenario: Scenario) -> str:
    return "\n".join(f"{s.id}: {s.question} -> {s.answer}"
                     + (f"; depends on {', '.join(s.depends_on)}" if s.depends_on else "")
                     for s in scenario.sub_questions)


def _toolset_text(draft: Draft) -> tuple[str, str]:
    tools = json.dumps([d.to_openai()["function"] for d in draft.docs.values()], indent=1, ensure_ascii=False)
    calls = json.dumps({k: {"name": c.name, "arguments": c.arguments} for k, c in draft.calls.items()},
                       indent=1, ensure_ascii=False)
    return tools, calls


class Decompose(Stage):
    """Sub-questions from the user's own decomposition, or from the model."""

    stage, name = "decompose", "llm"
    needs_generator = True

    def run(self, item: Question, ctx) -> Draft:
        given = item.payload.get("sub_questions")
        if given is not None:
            try:
                pattern, subs = parse_sub_questions(given, item.payload.get("pattern"))
            except ValueError as exc:
                raise Rejected(f"invalid decomposition in the input: {exc}", stage=self.stage) from None
        else:
            def parse(reply):
                obj = extract_json(reply)
                return parse_sub_questions(obj.get("sub_questions"), obj.get("pattern"))
            pattern, subs = ask(ctx, self.stage, prompt("decompose").substitute(
                question=item.question, answer=item.answer), parse)
        scenario = Scenario(id=item.id, question=item.question, answer=item.answer, pattern=pattern,
                            sub_questions=subs)
        return Draft(scenario=scenario, split=item.split)


class Document(Stage):
    """One general document per kind of sub-question, and the call answering each."""

    stage, name = "document", "llm"
    needs_generator = True

    def run(self, draft: Draft, ctx) -> Draft:
        text = prompt("document").substitute(sub_questions=_sub_question_lines(draft.scenario))
        docs, calls, _ = ask(ctx, self.stage, text,
                             lambda r: parse_toolset(extract_json(r), draft.scenario))
        return draft.evolve(docs=docs, calls=calls)


class Integrate(Stage):
    """Merge overlapping tools; the toolset must not grow."""

    stage, name = "integrate", "llm"
    needs_generator = True

    def run(self, draft: Draft, ctx) -> Draft:
        if len(draft.docs) < 2:
            return draft  # nothing to merge: no model call

        def parse(reply):
            docs, calls, _ = parse_toolset(extract_json(reply), draft.scenario)
            if len(docs) > len(draft.docs):
                raise ValueError(f"integration must not add tools ({len(draft.docs)} -> {len(docs)})")
            return docs, calls

        tools, calls = _toolset_text(draft)
        docs, calls = ask(ctx, self.stage, prompt("integrate").substitute(tools=tools, calls=calls), parse)
        return draft.evolve(docs=docs, calls=calls)


class Scale(Stage):
    """Complexity scaling as ``config.scale`` asks; ``none`` skips the model call."""

    stage, name = "scale", "llm"
    needs_generator = True

    def run(self, draft: Draft, ctx) -> Draft:
        from toolfeedback.build.construction import parse_scale

        scale = parse_scale(ctx.config.scale)
        if not scale:
            return draft
        strategies = "\n".join(f"- {k}: {v:g}" for k, v in scale.items())

        def parse(reply):
            docs, calls, distractors = parse_toolset(extract_json(reply), draft.scenario, distractors=True)
            if len(docs) < len(draft.docs):
                raise ValueError("scaling must not remove tools")
            if "distractors" in scale and len(distractors) < int(scale["distractors"]):
                raise ValueError(f"add {int(scale['distractors'])} distractor tools, "
                                 f"listed under distractors")
            return docs, calls, distractors

        tools, calls = _toolset_text(draft)
        docs, calls, distractors = ask(ctx, self.stage, prompt("scale").substitute(
            strategies=strategies, tools=tools, calls=calls), parse)
        return draft.evolve(docs=docs, calls=calls, distractors=distractors,
                            metadata={**draft.metadata, "scale": scale})


class Deploy(Stage):
    """Code per tool, accepted only when every example call returns its answer in the sandbox."""

    stage, name = "deploy", "llm"
    needs_generator = True

    def run(self, draft: Draft, ctx) -> Environment:
        codes: dict[str, str] = {}
        for name, doc in draft.docs.items():
            examples = [(draft.calls[s.id], s.answer) for s in draft.scenario.sub_questions
                        if draft.calls[s.id].name == name]
            text = prompt("deploy").substitute(
                name=name, document=json.dumps(doc.to_openai()["function"], indent=1, ensure_ascii=False),
                examples="\n".join(f"{name}(**{json.dumps(c.arguments, ensure_ascii=False)}) -> {a!r}"
                                   for c, a in examples) or "(none: this tool answers no sub-question)")
            code = ask(ctx, self.stage, text, lambda r, n=name, ex=examples: self._check(r, n, ex, ctx))
            try:  # one self-contained function, so the release's executor runs it too
                code = self_contained(code, name)
            except (ValueError, SyntaxError):
                pass
            codes[name] = code
        scenario = draft.scenario
        return Environment(
            id=scenario.id, messages=({"role": "user", "content": scenario.question},),
            tools=tuple(draft.docs.values()), codes=codes, unsolved=draft.unsolved(),
            answer=scenario.answer, pattern=scenario.pattern, golden=draft.golden_steps(),
            source="llm", split=draft.split,
            metadata={"distractors": list(draft.distractors), "scale": draft.metadata.get("scale", {}),
                      "sub_questions": [{"id": s.id, "question": s.question, "answer": s.answer,
                                         "tool": draft.calls[s.id].name, "depends_on": list(s.depends_on)}
                                        for s in scenario.sub_questions]})

    @staticmethod
    def _check(reply: str, name: str, examples, ctx) -> str:
        code = parse_code(reply, name)
        if examples:
            results = ctx.executor.run_calls("llm-check-" + hashlib.sha1(code.encode()).hexdigest(), {name: code},
                                             [c for c, _ in examples], timeout=ctx.config.timeout)
            for (call, answer), result in zip(examples, results):
                if not result.ok:
                    raise ValueError(f"calling {name}({json.dumps(call.arguments)}) failed: {result.error}")
                if not answer_matches(result.content, answer):
                    raise ValueError(f"{name}({json.dumps(call.arguments)}) returned "
                                     f"{result.content[:200]!r}, which does not contain {answer!r}")
        return code


@hookimpl
def register_stages(register):
    for stage in (Decompose(), Document(), Integrate(), Scale(), Deploy()):
        register(stage)
