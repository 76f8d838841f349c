"""The workflow's configuration checked against config/schema.yaml, with one line per
problem that names the key and the values it takes (jsonschema's own messages say "not
valid under any of the given schemas", or print the whole schema)."""

from __future__ import annotations

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from milage.errors import MilageError

FIX = "correct it in your config (config/README.md documents every key)"


def check_config(config: dict, schema: dict) -> None:
    """Raise :class:`MilageError` on the first key (in key order) the schema refuses."""
    errors = sorted(Draft202012Validator(schema).iter_errors(config),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        more = f" ({len(errors) - 1} more problems after it)" if len(errors) > 1 else ""
        raise MilageError(_message(errors[0], schema) + more)


def _key(path) -> str:
    out = "config"
    for i, part in enumerate(path):
        out += f"[{part}]" if isinstance(part, int) else ("." if i else " ") + str(part)
    return out


def _message(error: ValidationError, root: dict) -> str:
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        return (f"{key}: unknown key {unknown[0]!r}. Fix: remove it or correct its spelling "
                f"(keys here: {', '.join(known)})")
    if error.validator == "required":
        name = error.message.split("'")[1]
        return (f"{_key([*error.absolute_path, name])}: missing. Fix: add it (config/"
                "config.yaml has every key)")
    if error.validator in ("oneOf", "anyOf"):
        # the branch the value's type chose (a mapping of per-model numbers, say) says more
        chosen = [e for e in error.context if not _mismatch(e)]
        if chosen:
            return _message(max(chosen, key=lambda e: len(e.absolute_path)), root)
    schema = _property(error, root) or error.schema
    return f"{key}: {error.instance!r} is not {describe(schema, root)}. Fix: {FIX}"


def _mismatch(error: ValidationError) -> bool:
    """Whether an error only says the value is of another kind than a branch wants."""
    if error.validator in ("oneOf", "anyOf"):
        return all(_mismatch(e) for e in error.context)
    return error.validator in ("type", "enum")


def _property(error: ValidationError, root: dict) -> dict:
    """The whole schema of the offending value (not only the failed keyword's part)."""
    schema = root
    for part in error.absolute_path:
        schema = _resolve(schema, root)
        want = "items" if isinstance(part, int) else "properties"
        schema = next((b for b in schema.get("oneOf", schema.get("anyOf", [])) if want in b),
                      schema)                      # the branch that has keys (or items)
        schema = schema.get("items", {}) if isinstance(part, int) else \
            schema.get("properties", {}).get(part, schema.get("additionalProperties", {}))
    return _resolve(schema, root)


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _yaml(value) -> str:
    """A config value as it is written in YAML (true, not Python's True)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def describe(schema: dict, root: dict) -> str:
    """What a schema accepts, in words: "a number > 0 and <= 1", "one of ml, nn, tm"."""
    schema = _resolve(schema, root)
    for choice in ("oneOf", "anyOf"):
        if choice in schema:
            return " or ".join(describe(s, root) for s in schema[choice])
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(_yaml(v) for v in schema["enum"])
    types = schema.get("type", "any value")
    types = types if isinstance(types, list) else [types]
    return " or ".join(_describe_type(t, schema, root) for t in types)


_NAMES = {"number": "a number", "integer": "an integer", "string": "a text",
          "boolean": "true or false", "null": "null", "any value": "any value"}
_BOUNDS = (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
           ("exclusiveMaximum", "<"))


def _describe_type(kind: str, schema: dict, root: dict) -> str:
    if kind == "object":
        keys = list(schema.get("properties", {}))
        return f"a mapping with keys {', '.join(keys)}" if keys else "a mapping"
    if kind == "array":
        items = f" of {describe(schema['items'], root)}" if "items" in schema else ""
        least = schema.get("minItems", 0)
        return f"a list{items}" + (f" with at least {least} item(s)" if least else "")
    bounds = [f"{op} {schema[k]}" for k, op in _BOUNDS if k in schema]
    return " ".join([_NAMES[kind], " and ".join(bounds)]).strip()
