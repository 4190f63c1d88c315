"""Localized deployment for the procedural pipeline: readable Python source per tool.

Each tool is one self-contained function using only the standard library (its imports,
tables and helpers live inside it: the release's executor sees nothing else). A lookup
embeds the facts of just the entities its environment mentions (a correct call returns
the sub-answer, other fields of those entities return their true values), answers
unknown names with plausible values derived from a stable hash of the arguments (the
same call always gets the same answer), and raises ``ValueError`` with a clear message
for invalid arguments (the runtime turns that into the tool's error text).
"""

from __future__ import annotations

import random
from functools import lru_cache

from toolfeedback.ftrl import self_contained

from .procedural_docs import CALC_OPERATIONS, DATE_OPERATIONS
from .procedural_world import CONVERSIONS, LABELS, SCHEMA, UNIT_FIELDS, World

_LOOKUP = '''\
import datetime
import hashlib

LABELS = {labels}

# Facts of the entities this environment knows (lowercase name -> record).
RECORDS = {records}

# How to guess a plausible value for a name the registry does not know:
# a pool to pick from, a numeric range (low, high, decimals) or a span of years.
GUESSES = {guesses}

IMPERIAL = {imperial}


def _guess(name, field):
    number = int(hashlib.sha256(f"{{name.lower()}}|{{field}}".encode()).hexdigest()[:12], 16)
    rule = GUESSES[field]
    if "pool" in rule:
        return rule["pool"][number % len(rule["pool"])]
    if "range" in rule:
        low, high, places = rule["range"]
        value = low + (number % 1000003) / 1000003 * (high - low)
        return str(round(value)) if places == 0 else f"{{value:.{{places}}f}}"
    first = datetime.date(rule["years"][0], 1, 1).toordinal()
    last = datetime.date(rule["years"][1], 12, 31).toordinal()
    return datetime.date.fromordinal(first + number % (last - first)).isoformat()


def _fact(name, field):
    record = RECORDS.get(name.strip().lower())
    if record is not None:
        return record["name"], record[field]
    return name.strip(), _guess(name.strip(), field)


def {name}({signature}):
    """{doc}"""
{key_check}
    if field not in LABELS:
        raise ValueError(f"unknown field {{field!r}}; expected one of: {{', '.join(LABELS)}}")
    if format not in ("text", "json"):
        raise ValueError(f"format must be 'text' or 'json', not {{format!r}}")
    if units not in ("metric", "imperial"):
        raise ValueError(f"units must be 'metric' or 'imperial', not {{units!r}}")
    rows = []
    for item in names:
        canonical, value = _fact(item, field)
        label = LABELS[field]
        if units == "imperial" and field in IMPERIAL:
            unit, factor, label = IMPERIAL[field]
            value = f"{{float(value) * factor:.2f}}"
        rows.append({{"name": canonical, "field": field, "label": label, "value": value}})
    if format == "json":
        out = [{{"name": r["name"], "field": r["field"], "value": r["value"]}} for r in rows]
        for row in out:
            if include_source:
                row["source"] = "local registry"
        return {json_return}
    text = " ".join(f"The {{r['label']}} of {{r['name']}} is {{r['value']}}." for r in rows)
    return text + (" (source: local registry)" if include_source else "")
'''

_KEY_CHECKS = {
    "string": '''\
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name must be a non-empty string: the full name")
    names = [name]''',
    "array": '''\
    if not isinstance(names, list) or not names or len(names) > 10:
        raise ValueError("names must be a list of 1 to 10 full names")
    if not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError("every entry of names must be a non-empty string")''',
    "object": '''\
    if not isinstance(entity, dict) or not isinstance(entity.get("name"), str) or not entity["name"].strip():
        raise ValueError("entity must be an object with a non-empty string 'name'")
    unknown = sorted(set(entity) - {"name", "exact"})
    if unknown:
        raise ValueError(f"entity has unknown keys: {', '.join(unknown)}")
    names = [entity["name"]]
    if entity.get("exact", True) is False:  # a partial name picks the first known match
        wanted = entity["name"].strip().lower()
        names = [next((r["name"] for k, r in RECORDS.items() if wanted in k), entity["name"])]''',
}

_CONVERT = '''\
CONVERSIONS = {table}


def {name}({signature}):
    """{doc}"""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("value must be a number")
    if not isinstance(from_unit, str) or not isinstance(to_unit, str):
        raise ValueError("from_unit and to_unit must be unit codes such as 'cm' or 'kg'")
    pair = f"{{from_unit.strip().lower()}}>{{to_unit.strip().lower()}}"
    if pair not in CONVERSIONS:
        raise ValueError(f"cannot convert {{from_unit!r}} to {{to_unit!r}}; known: {{', '.join(CONVERSIONS)}}")
    if isinstance(precision, bool) or not isinstance(precision, int) or not 0 <= precision <= 6:
        raise ValueError("precision must be an integer from 0 to 6")
    result = value * CONVERSIONS[pair]
    return f"{{value}} {{from_unit}} is {{result:.{{precision}}f}} {{to_unit}}."
'''

_DATE = '''\
import datetime

OPERATIONS = {operations}


def _parse(text, what):
    try:
        return datetime.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{{what}} must be an ISO date YYYY-MM-DD, not {{text!r}}") from None


def {name}({signature}):
    """{doc}"""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {{operation!r}}; expected one of: {{', '.join(OPERATIONS)}}")
    day = _parse(date, "date")
    if operation == "weekday":
        result, text = day.strftime("%A"), f"{{date}} is a {{day.strftime('%A')}}."
    elif operation == "days_between":
        days_apart = (_parse(other_date, "other_date") - day).days
        result, text = days_apart, f"There are {{days_apart}} days from {{date}} to {{other_date}}."
    elif operation == "add_days":
        if isinstance(days, bool) or not isinstance(days, int):
            raise ValueError("add_days needs an integer days")
        result = (day + datetime.timedelta(days=days)).isoformat()
        text = f"{{date}} plus {{days}} days is {{result}}."
    else:
        result, text = day.year, f"The year of {{date}} is {{day.year}}."
    if format == "json":
        return {{"operation": operation, "date": date, "result": result}}
    if format != "text":
        raise ValueError(f"format must be 'text' or 'json', not {{format!r}}")
    return text
'''

_CALC = '''\
OPERATIONS = {operations}


def {name}({signature}):
    """{doc}"""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {{operation!r}}; expected one of: {{', '.join(OPERATIONS)}}")
    if not isinstance(numbers, list) or not numbers:
        raise ValueError("numbers must be a non-empty list of numbers")
    if any(isinstance(n, bool) or not isinstance(n, (int, float)) for n in numbers):
        raise ValueError("every entry of numbers must be a number")
    if isinstance(precision, bool) or not isinstance(precision, int) or not 0 <= precision <= 6:
        raise ValueError("precision must be an integer from 0 to 6")
    result = numbers[0]
    if operation == "add":
        result = sum(numbers)
    elif operation == "mean":
        result = sum(numbers) / len(numbers)
    for n in numbers[1:]:
        if operation == "subtract":
            result = result - n
        elif operation == "multiply":
            result = result * n
        elif operation == "divide":
            if n == 0:
                raise ValueError("division by zero")
            result = result / n
    if isinstance(result, int):
        return f"The result is {{result}}."
    return f"The result is {{result:.{{precision}}f}}."
'''


@lru_cache(maxsize=8)
def field_guesses(world: World) -> dict[str, dict]:
    """Per (entity, field): the range or span of values the world has, for plausible guesses."""
    out: dict[str, dict] = {}
    for entity, fields in SCHEMA.items():
        for field, kind in fields.items():
            values = [world.facts[n][field] for n in world.entities[entity]]
            if kind in ("int", "float"):
                numbers = [float(v) for v in values]
                places = 0 if kind == "int" else len(values[0].split(".")[1])
                out[f"{entity}.{field}"] = {"range": [min(numbers), max(numbers), places]}
            elif kind == "date":
                out[f"{entity}.{field}"] = {"years": [int(min(values)[:4]), int(max(values)[:4])]}
            else:
                pool = sorted(set(values)) if kind == "text" else list(world.entities[kind])
                out[f"{entity}.{field}"] = {"pool": pool}
    return out


def literal(value) -> str:
    """A readable Python literal: dicts one entry per line, everything else ``repr``
    (a faster stand-in for ``pprint.pformat`` that is just as deterministic)."""
    if isinstance(value, dict) and value:
        items = ",\n".join(f"    {k!r}: {v!r}" for k, v in value.items())
        return "{\n" + items + ",\n}"
    return repr(value)


def _doc(text: str) -> str:
    return text.replace('"""', "'''").replace("\\", "/")


def _signature(required: list[str], optional: dict[str, object]) -> str:
    return ", ".join(required + [f"{k}={v!r}" for k, v in optional.items()])


def render_code(name: str, model: dict, world: World, mentioned: list[str], answers: list[str],
                rng: random.Random, description: str = "") -> str:
    """Python source defining function ``name`` for the tool ``model``: one self-contained
    function (its imports, tables and helpers inside it), so the release's executor, which
    ``exec``s the code inside a function and then ``eval``s the name, runs it too."""
    return self_contained(_render(name, model, world, mentioned, answers, rng, description), name)


def _render(name: str, model: dict, world: World, mentioned: list[str], answers: list[str],
            rng: random.Random, description: str = "") -> str:
    kind, options = model["kind"], model.get("options", ())
    doc = _doc(description or f"{name}: a locally deployed tool.")
    if kind == "lookup":
        entity, fields = model["entity"], list(model["fields"])
        known = list(dict.fromkeys(n for n in mentioned if world.kinds.get(n) == entity))
        records = {n.lower(): {"name": n, **{f: world.facts[n][f] for f in fields}} for n in known}
        guesses = {}
        banned = set(answers)
        for f in fields:
            rule = dict(field_guesses(world)[f"{entity}.{f}"])
            if "pool" in rule:  # a guess must never be an answer of this environment
                pool = [v for v in rule["pool"] if v not in banned]
                rule = {"pool": rng.sample(pool, min(6, len(pool)))}
            guesses[f] = rule
        imperial = {f: [UNIT_FIELDS[f][1], CONVERSIONS[UNIT_FIELDS[f][:2]],
                        LABELS[f].replace(*_IMPERIAL_LABELS.get(f, ("", "")))]
                    for f in fields if f in UNIT_FIELDS}
        key = {"string": "name", "array": "names", "object": "entity"}[model["key"]]
        optional: dict[str, object] = {}
        required = [key]
        if model["field_param"]:
            required.append("field")
        for option, default in (("format", "text"), ("units", "metric"), ("include_source", False)):
            if option in options:
                optional[option] = default
        body = _KEY_CHECKS[model["key"]]
        # Parameters a document does not offer are fixed inside the function.
        fixed = []
        if not model["field_param"]:
            fixed.append(f"    field = {fields[0]!r}")
        for option, default in (("format", "text"), ("units", "metric"), ("include_source", False)):
            if option not in options:
                fixed.append(f"    {option} = {default!r}")
        return _LOOKUP.format(
            labels=literal({f: LABELS[f] for f in fields}),
            records=literal(records),
            guesses=literal(guesses),
            imperial=literal(imperial),
            name=name, signature=_signature(required, optional), doc=doc,
            key_check="\n".join(fixed + [body]), json_return="out" if model["key"] == "array" else "out[0]")
    if kind == "convert":
        table = {f"{a}>{b}": factor for (a, b), factor in CONVERSIONS.items()}
        sig = _signature(["value", "from_unit", "to_unit"],
                         {"precision": 2} if "precision" in options else {})
        code = _CONVERT.format(table=literal(table), name=name,
                               signature=sig, doc=doc)
        return code if "precision" in options else code.replace(
            '    if isinstance(precision, bool)', '    precision = 2\n    if isinstance(precision, bool)', 1)
    if kind == "date":
        sig = _signature(["operation", "date"], {"other_date": None, "days": None,
                                                 **({"format": "text"} if "format" in options else {})})
        code = _DATE.format(operations=DATE_OPERATIONS, name=name, signature=sig, doc=doc)
        return code if "format" in options else code.replace(
            "    day = _parse(", '    format = "text"\n    day = _parse(', 1)
    sig = _signature(["operation", "numbers"], {"precision": 2} if "precision" in options else {})
    code = _CALC.format(operations=CALC_OPERATIONS, name=name, signature=sig, doc=doc)
    return code if "precision" in options else code.replace(
        "    if isinstance(precision, bool)", "    precision = 2\n    if isinstance(precision, bool)", 1)


_IMPERIAL_LABELS = {"height_cm": ("centimetres", "inches"), "area_km2": ("kilometres", "miles"),
                    "weight_kg": ("kilograms", "pounds"), "price_usd": ("US dollars", "euros")}
