"""Tool documents (OpenAI function schemas) rendered from the procedural tool models."""

from __future__ import annotations

from toolfeedback.types import ToolSpec

from .procedural_world import CONVERSIONS, LABELS

UNITS = sorted({u for pair in CONVERSIONS for u in pair})
DATE_OPERATIONS = ["weekday", "days_between", "add_days", "year"]
CALC_OPERATIONS = ["add", "subtract", "multiply", "divide", "mean"]

_OPTIONS = {
    "format": {"type": "string", "enum": ["text", "json"], "default": "text",
               "description": "Output format: a sentence (text) or a JSON object (json)."},
    "units": {"type": "string", "enum": ["metric", "imperial"], "default": "metric",
              "description": "Unit system for measurements (lengths, areas, weights, prices)."},
    "include_source": {"type": "boolean", "default": False,
                       "description": "Append where the fact comes from."},
    "precision": {"type": "integer", "minimum": 0, "maximum": 6, "default": 2,
                  "description": "Decimal places of the result."},
}


def _key_params(entity: str, key: str) -> tuple[dict, str]:
    if key == "array":
        return {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 10,
                "description": f"Full names of one or more {entity} entries."}, "names"
    if key == "object":
        return {"type": "object", "description": f"The {entity} to look up.",
                "properties": {"name": {"type": "string", "description": f"Full name of the {entity}."},
                               "exact": {"type": "boolean", "default": True,
                                         "description": "Require an exact (case-insensitive) name match; false accepts "
                                                        "part of a name."}},
                "required": ["name"]}, "entity"
    return {"type": "string", "description": f"Full name of the {entity}."}, "name"


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def render_doc(name: str, model: dict) -> ToolSpec:
    """The document of one tool model (see :mod:`.procedural_stages`)."""
    kind = model["kind"]
    props: dict = {}
    required: list[str] = []
    if kind == "lookup":
        entity = model["entity"]
        schema, key = _key_params(entity, model["key"])
        props[key] = schema
        required.append(key)
        labels = [LABELS[f] for f in model["fields"]]
        if model["field_param"]:
            props["field"] = {"type": "string", "enum": list(model["fields"]),
                              "description": "Which fact to return: " + "; ".join(
                                  f"{f} = {LABELS[f]}" for f in model["fields"]) + "."}
            required.append("field")
            description = (f"Look up facts about {_a(entity)} in the local registry by name: "
                           + ", ".join(labels) + ". Unknown names get the registry's best guess.")
        else:
            description = (f"Look up the {labels[0]} of {_a(entity)} in the local registry, "
                           f"given the {entity}'s full name.")
    elif kind == "convert":
        unit = {"type": "string", "description": "Unit code, e.g. cm, in, km2, mi2, kg, lb, usd, eur."}
        if model.get("typed"):
            unit = {"type": "string", "enum": UNITS, "description": "Unit code."}
        props = {"value": {"type": "number", "description": "The amount to convert."},
                 "from_unit": dict(unit), "to_unit": dict(unit)}
        required = ["value", "from_unit", "to_unit"]
        description = "Convert an amount between units of length, area, weight and currency."
    elif kind == "date":
        props = {"operation": {"type": "string", "enum": DATE_OPERATIONS,
                               "description": "weekday of date; days_between date and other_date; "
                                              "add_days to date; year of date."},
                 "date": {"type": "string", "description": "An ISO date, YYYY-MM-DD."},
                 "other_date": {"type": "string", "description": "Second ISO date (days_between)."},
                 "days": {"type": "integer", "description": "Days to add (add_days)."}}
        required = ["operation", "date"]
        description = "Calendar arithmetic on ISO dates: weekday, day differences, adding days, year."
    else:
        props = {"operation": {"type": "string", "enum": CALC_OPERATIONS,
                               "description": "What to compute over the numbers."},
                 "numbers": {"type": "array", "items": {"type": "number"}, "minItems": 1,
                             "description": "The operands, in order."}}
        required = ["operation", "numbers"]
        description = "Arithmetic over a list of numbers: add, subtract, multiply, divide, mean."
    for option in model.get("options", ()):
        props[option] = dict(_OPTIONS[option])
    return ToolSpec(name=name, description=description,
                    parameters={"type": "object", "properties": props, "required": required})
