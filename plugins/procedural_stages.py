"""The five construction stages of the ``procedural`` pipeline (deterministic, no model).

Tools are kept as small structured *models* (``Draft.models``: name -> dict) from which
documents (:mod:`.procedural_docs`) and code (:mod:`.procedural_code`) are rendered, so
every stage edits one description and the two renderings never disagree.
"""

from __future__ import annotations

import math
import random

from toolfeedback import hookimpl
from toolfeedback.build.construction import Draft, Question, Rejected, parse_scale
from toolfeedback.types import Environment, Pattern, Scenario, SubQuestion, ToolCall
from toolfeedback.contracts import Stage

from .procedural_docs import render_doc
from .procedural_code import render_code
from .procedural_world import (LABELS, REFERENCE_DATE, SCHEMA, UNIT_FIELDS, add_numbers, convert,
                               days_between, make_world, weekday)



def _world(ctx):
    world = ctx.resources.get("world")
    if world is None:
        world = ctx.resources["world"] = make_world(ctx.config.seed, ctx.config.world_scale)
    return world


def _number(text: str):
    return int(text) if "." not in text else float(text)


class Decompose(Stage):
    """Walk the world along the plan: one sub-question per field, computation and merge."""

    stage, name = "decompose", "procedural"

    def run(self, item: Question, ctx) -> Draft:
        plan = item.payload
        if "exhausted" in plan:
            raise Rejected(f"no fresh question after {plan['exhausted']} draws (world too small)")
        world = _world(ctx)
        subs: list[SubQuestion] = []
        clauses, finals, last_ids = [], [], []
        for c, root in enumerate(plan["roots"]):
            current, kind, prev, phrase = root, plan["kind"], (), root
            for j, field in enumerate(plan["fields"]):
                value = world.value(current, field)
                subs.append(SubQuestion(
                    id=f"c{c}.{j}", question=f"What is the {LABELS[field]} of {current}?",
                    answer=value, depends_on=prev,
                    metadata={"op": "lookup", "entity": kind, "key": current, "field": field}))
                phrase = f"the {LABELS[field]} of {phrase}"
                prev, current, kind = (f"c{c}.{j}",), value, SCHEMA[kind].get(field)
            field = plan["fields"][-1]
            compute = plan["compute"]
            if compute:
                sid = f"c{c}.{len(plan['fields'])}"
                if compute == "convert":
                    src, dst, label = UNIT_FIELDS[field]
                    answer = convert(float(current), src, dst)
                    meta = {"op": "convert", "value": _number(current), "from_unit": src, "to_unit": dst}
                    question, phrase = f"What is {current} {src} in {dst}?", f"{phrase} in {label}"
                elif compute == "weekday":
                    answer = weekday(current)
                    meta = {"op": "weekday", "date": current}
                    question = f"What day of the week is {current}?"
                    phrase = f"the day of the week of {phrase}"
                else:
                    answer = days_between(current, REFERENCE_DATE)
                    meta = {"op": "days_between", "date": current, "other_date": REFERENCE_DATE}
                    question = f"How many days are there from {current} to {REFERENCE_DATE}?"
                    phrase = f"the number of days from {phrase} to {REFERENCE_DATE}"
                subs.append(SubQuestion(id=sid, question=question, answer=answer, depends_on=prev,
                                        metadata=meta))
                prev, current = (sid,), answer
            clauses.append(phrase)
            finals.append(current)
            last_ids.extend(prev)
        if plan["merge"] == "sum":
            answer = add_numbers(finals)
            subs.append(SubQuestion(id="sum", question=f"What is the sum of {' and '.join(finals)}?",
                                    answer=answer, depends_on=tuple(last_ids),
                                    metadata={"op": "sum", "numbers": [_number(v) for v in finals]}))
            text = f"What is the sum of {_join(clauses)}?"
        elif len(clauses) > 1:
            answer = ", ".join(finals)
            text = f"What are {_join(clauses)}? Give them in this order."
        else:
            answer, text = finals[0], f"What is {clauses[0]}?"
        scenario = Scenario(id=item.id, question=text, answer=answer, pattern=Pattern(plan["pattern"]),
                            sub_questions=tuple(subs), metadata={"plan": plan})
        return Draft(scenario=scenario, split=item.split)


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


class Document(Stage):
    """One general tool per relation kind: ``get_<entity>_<field>`` lookups, and one
    ``unit_converter`` / ``date_calculator`` / ``calculator`` for computations."""

    stage, name = "document", "procedural"

    def run(self, draft: Draft, ctx) -> Draft:
        models: dict[str, dict] = {}
        calls: dict[str, ToolCall] = {}
        for sq in draft.scenario.sub_questions:
            meta = sq.metadata
            op = meta["op"]
            if op == "lookup":
                name = f"get_{meta['entity']}_{meta['field']}"
                models.setdefault(name, {"kind": "lookup", "entity": meta["entity"],
                                         "fields": [meta["field"]], "field_param": False,
                                         "key": "string", "options": []})
                args = {"name": meta["key"]}
            elif op == "convert":
                name = "unit_converter"
                models.setdefault(name, {"kind": "convert", "typed": False, "options": []})
                args = {k: meta[k] for k in ("value", "from_unit", "to_unit")}
            elif op in ("weekday", "days_between"):
                name = "date_calculator"
                models.setdefault(name, {"kind": "date", "options": []})
                args = {"operation": op, "date": meta["date"]}
                if op == "days_between":
                    args["other_date"] = meta["other_date"]
            else:
                name = "calculator"
                models.setdefault(name, {"kind": "calc", "options": []})
                args = {"operation": "add", "numbers": list(meta["numbers"])}
            calls[sq.id] = ToolCall(name=name, arguments=args)
        return _render(draft.evolve(models=models, calls=calls))


def _render(draft: Draft) -> Draft:
    return draft.evolve(docs={name: render_doc(name, model) for name, model in draft.models.items()})


def _reroute(draft: Draft, old: str, new: str, model: dict) -> dict:
    """Point every golden call of tool ``old`` at ``new``, rewriting arguments for ``model``."""
    calls = dict(draft.calls)
    for sid, call in draft.calls.items():
        if call.name != old:
            continue
        calls[sid] = ToolCall(name=new, arguments=lookup_args(model, call, _field_of(draft, sid)))
    return calls


def _field_of(draft: Draft, sid: str) -> str | None:
    for sq in draft.scenario.sub_questions:
        if sq.id == sid:
            return sq.metadata.get("field")
    return None


def lookup_args(model: dict, call: ToolCall, field: str | None) -> dict:
    """Golden arguments of a lookup for ``model``'s key type and field parameter."""
    key = call.arguments.get("name")
    if key is None:
        key = (call.arguments.get("names") or [None])[0] or call.arguments.get("entity", {}).get("name")
    args: dict = {"string": {"name": key}, "array": {"names": [key]},
                  "object": {"entity": {"name": key}}}[model["key"]]
    if model["field_param"]:
        args["field"] = field
    return args


class Integrate(Stage):
    """Merge lookups of one entity type into ``<entity>_info(name, field)``."""

    stage, name = "integrate", "procedural"

    def run(self, draft: Draft, ctx) -> Draft:
        groups: dict[str, list[str]] = {}
        for name, model in draft.models.items():
            if model["kind"] == "lookup":
                groups.setdefault(model["entity"], []).append(name)
        models = dict(draft.models)
        for entity, names in groups.items():
            if len(names) < 2:
                continue
            merged = {"kind": "lookup", "entity": entity, "field_param": True, "key": "string",
                      "options": [], "fields": [f for n in names for f in models[n]["fields"]],
                      "merged_from": names}
            for name in names:
                del models[name]
            models[f"{entity}_info"] = merged
            for name in names:
                draft = draft.evolve(calls=_reroute(draft, name, f"{entity}_info", merged))
        return _render(draft.evolve(models=models))


class Scale(Stage):
    """Complexity scaling: functional generalization, parameter expansion, parameter-type
    generalization and toolset extension, each with an intensity
    (see :func:`toolfeedback.build.construction.parse_scale`)."""

    stage, name = "scale", "procedural"

    def run(self, draft: Draft, ctx) -> Draft:
        scale = parse_scale(ctx.config.scale)
        rng = random.Random(f"scale:{ctx.config.seed}:{draft.scenario.id}")
        models = {k: dict(v, fields=list(v.get("fields", ())), options=list(v["options"]))
                  for k, v in draft.models.items()}
        applied: dict[str, int] = {}
        for name in list(models):
            model = models[name]
            if "generalize" in scale and model["kind"] == "lookup" and rng.random() < scale["generalize"]:
                extra = [f for f in SCHEMA[model["entity"]] if f not in model["fields"]]
                take = min(len(extra), max(1, math.ceil(len(extra) * scale["generalize"])))
                model["fields"] += rng.sample(extra, take)
                model["field_param"] = True
                new = f"{model['entity']}_info"
                if new != name:
                    models[new] = models.pop(name)
                draft = draft.evolve(calls=_reroute(draft, name, new, model))
                name = new
                applied["generalize"] = applied.get("generalize", 0) + 1
            if "expand" in scale and rng.random() < scale["expand"]:
                model["options"] = _options(model)
                applied["expand"] = applied.get("expand", 0) + 1
            if "types" in scale and model["kind"] in ("lookup", "convert") and rng.random() < scale["types"]:
                if model["kind"] == "lookup":
                    model["key"] = rng.choice(["array", "object"])
                    draft = draft.evolve(calls=_reroute(draft, name, name, model))
                else:
                    model["typed"] = True
                applied["types"] = applied.get("types", 0) + 1
        distractors: list[str] = []
        if scale.get("distractors"):
            used = {m["entity"] for m in models.values() if m["kind"] == "lookup"}
            pool = [f"{e}_info" for e in SCHEMA if e not in used]
            pool += [n for n in ("unit_converter", "date_calculator", "calculator") if n not in models]
            for name in rng.sample(pool, min(len(pool), int(scale["distractors"]))):
                if name.endswith("_info"):
                    entity = name[: -len("_info")]
                    models[name] = {"kind": "lookup", "entity": entity, "fields": list(SCHEMA[entity]),
                                    "field_param": True, "key": "string", "options": []}
                else:
                    models[name] = {"kind": {"unit_converter": "convert", "date_calculator": "date",
                                             "calculator": "calc"}[name], "typed": False, "options": []}
                distractors.append(name)
            applied["distractors"] = len(distractors)
        return _render(draft.evolve(models=models, distractors=tuple(distractors),
                                    metadata={**draft.metadata, "scale": applied}))


def _options(model: dict) -> list[str]:
    if model["kind"] == "lookup":
        units = any(f in UNIT_FIELDS for f in model["fields"])
        return ["format"] + (["units"] if units else []) + ["include_source"]
    return ["precision"] if model["kind"] in ("convert", "calc") else ["format"]


class Deploy(Stage):
    """Localized deployment: readable standard-library Python per tool (see :mod:`.procedural_code`)."""

    stage, name = "deploy", "procedural"

    def run(self, draft: Draft, ctx) -> Environment:
        world = _world(ctx)
        answers = [sq.answer for sq in draft.scenario.sub_questions] + [draft.scenario.answer]
        mentioned = [sq.metadata["key"] for sq in draft.scenario.sub_questions
                     if sq.metadata.get("op") == "lookup"]
        mentioned += [sq.answer for sq in draft.scenario.sub_questions if sq.answer in world.kinds]
        rng = random.Random(f"deploy:{ctx.config.seed}:{draft.scenario.id}")
        codes = {name: render_code(name, model, world, mentioned, answers, rng,
                                  description=draft.docs[name].description)
                 for name, model in draft.models.items()}
        scenario = draft.scenario
        return Environment(
            id=scenario.id, messages=({"role": "user", "content": scenario.question},),
            tools=tuple(draft.docs[n] for n in draft.models), codes=codes,
            unsolved=draft.unsolved(), answer=scenario.answer, pattern=scenario.pattern,
            golden=draft.golden_steps(), source="procedural", split=draft.split,
            metadata={"hops": _depth(scenario), "roots": list(scenario.metadata["plan"]["roots"]),
                      "scale": draft.metadata.get("scale", {}), "distractors": list(draft.distractors),
                      "sub_questions": [{"id": s.id, "question": s.question, "answer": s.answer,
                                         "tool": draft.calls[s.id].name, "depends_on": list(s.depends_on)}
                                        for s in scenario.sub_questions]})


def _depth(scenario: Scenario) -> int:
    level: dict[str, int] = {}
    for sq in scenario.sub_questions:
        level[sq.id] = 1 + max((level[d] for d in sq.depends_on), default=0)
    return max(level.values())


@hookimpl
def register_stages(register):
    for stage in (Decompose(), Document(), Integrate(), Scale(), Deploy()):
        register(stage)
