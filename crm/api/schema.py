"""Field specifications that both validate API input and describe it as JSON Schema.

One definition serves three readers: the view that loads a request, the OpenAPI document
at /api/v1/openapi.json, and the HTML reference at /api/v1/docs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from crm.params import INT_MAX, YEAR_MAX, YEAR_MIN, in_year_range

_MISSING = object()


class FieldError(ValueError):
    """The value is not acceptable; the message says why, for a person."""


class ValidationFailed(Exception):
    """A request's fields are invalid: {field: message}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("invalid fields")
        self.errors = errors


def _check_text(value: str) -> str:
    if "\x00" in value:
        raise FieldError("Remove the NUL character.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FieldError("The text is not valid Unicode.") from exc
    return value


def parse_datetime(raw: str) -> datetime:
    """An RFC 3339 date-time with an offset, as an aware UTC datetime."""
    try:
        value = datetime.fromisoformat(raw)
    except (TypeError, ValueError) as exc:
        raise FieldError("Give a date and time like 2025-06-01T09:30:00Z.") from exc
    if value.tzinfo is None or value.utcoffset() is None:
        raise FieldError("Give a time zone offset, e.g. 2025-06-01T09:30:00Z or +02:00.")
    if not in_year_range(value.year):
        raise FieldError(f"Give a time between the years {YEAR_MIN} and {YEAR_MAX}.")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise FieldError(f"Give a time between the years {YEAR_MIN} and {YEAR_MAX}.") from exc


class Field:
    """One value: its JSON type and limits, how to load it, how to describe it."""

    def __init__(
        self,
        type_: str,
        *,
        required: bool = False,
        nullable: bool = False,
        min_length: int | None = None,
        max_length: int | None = None,
        minimum: int | None = None,
        maximum: int | None = None,
        enum: list[str] | None = None,
        items: Field | None = None,
        max_items: int | None = None,
        min_items: int | None = None,
        description: str = "",
        example: Any = _MISSING,
        strip: bool = True,
        check: Callable[[str], str | None] | None = None,
    ):
        self.type = type_
        self.required = required
        self.nullable = nullable
        self.min_length = min_length
        self.max_length = max_length
        self.minimum = minimum
        self.maximum = maximum
        if type_ == "integer":
            self.minimum = 1 if minimum is None else minimum
            self.maximum = INT_MAX if maximum is None else maximum
        self.enum = enum
        self.items = items
        self.max_items = max_items
        self.min_items = min_items
        self.description = description
        self.example = example
        self.strip = strip
        # A string's own rule, checked first: why the text is refused, or None.
        self.check = check

    # -- describing ----------------------------------------------------------------

    def json_schema(self) -> dict:
        kind = {"date": "string", "date-time": "string"}.get(self.type, self.type)
        schema: dict[str, Any] = {"type": [kind, "null"] if self.nullable else kind}
        if self.type in ("date", "date-time"):
            schema["format"] = self.type
        for key, value in (("minLength", self.min_length), ("maxLength", self.max_length),
                           ("minimum", self.minimum), ("maximum", self.maximum),
                           ("minItems", self.min_items), ("maxItems", self.max_items)):
            if value is not None:
                schema[key] = value
        if self.enum:
            schema["enum"] = list(self.enum) + ([None] if self.nullable else [])
        if self.items is not None:
            schema["items"] = self.items.json_schema()
        if self.description:
            schema["description"] = self.description
        if self.example is not _MISSING:
            schema["examples"] = [self.example]
        return schema

    def type_label(self) -> str:
        """A short type for the HTML reference: "string (≤ 120)", "array of integer"."""
        label = self.type
        if self.type == "array" and self.items is not None:
            label = f"array of {self.items.type_label()}"
        if self.enum:
            label = " | ".join(self.enum)
        if self.max_length:
            label += f" (≤ {self.max_length})"
        if self.nullable:
            label += " or null"
        return label

    def example_value(self):
        if self.example is not _MISSING:
            return self.example
        return _default_example(self.json_schema())

    # -- loading -------------------------------------------------------------------

    def load(self, value):
        """The Python value of a JSON value, or FieldError."""
        if value is None:
            if self.nullable:
                return None
            raise FieldError("This field cannot be null.")
        loader = getattr(self, f"_load_{self.type.replace('-', '_')}")
        return loader(value)

    def load_text(self, raw: str):
        """The Python value of a query-string value."""
        if self.type == "integer":
            try:
                value = int(raw)
            except ValueError as exc:
                raise FieldError("Give a whole number.") from exc
            return self._load_integer(value)
        if self.type == "boolean":
            if raw.lower() in ("true", "1"):
                return True
            if raw.lower() in ("false", "0"):
                return False
            raise FieldError("Give true or false.")
        return self.load(raw)

    def _load_string(self, value):
        if not isinstance(value, str):
            raise FieldError("Give a string.")
        if self.check is not None:
            refusal = self.check(value)
            if refusal:
                raise FieldError(refusal)
        value = _check_text(value)
        if self.strip:
            value = value.strip()
        if self.min_length and len(value) < self.min_length:
            raise FieldError("This field is required." if self.min_length == 1
                             else f"Give at least {self.min_length} characters.")
        if self.max_length is not None and len(value) > self.max_length:
            raise FieldError(f"Keep it to {self.max_length} characters or fewer.")
        if self.enum and value not in self.enum:
            raise FieldError("Choose one of: " + ", ".join(self.enum) + ".")
        return value

    def _load_integer(self, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError("Give a whole number.")
        if self.minimum is not None and value < self.minimum:
            raise FieldError(f"Give a number of at least {self.minimum}.")
        if self.maximum is not None and value > self.maximum:
            raise FieldError(f"Give a number of at most {self.maximum}.")
        return value

    def _load_boolean(self, value):
        if not isinstance(value, bool):
            raise FieldError("Give true or false.")
        return value

    def _load_date(self, value):
        if not isinstance(value, str):
            raise FieldError("Give a date like 2025-06-01.")
        try:
            parsed = date.fromisoformat(_check_text(value))
        except ValueError as exc:
            raise FieldError("Give a date like 2025-06-01.") from exc
        if len(value) != 10 or not in_year_range(parsed.year):
            raise FieldError(f"Give a date like 2025-06-01, between {YEAR_MIN} and {YEAR_MAX}.")
        return parsed

    def _load_date_time(self, value):
        if not isinstance(value, str):
            raise FieldError("Give a date and time like 2025-06-01T09:30:00Z.")
        return parse_datetime(_check_text(value))

    def _load_array(self, value):
        if not isinstance(value, list):
            raise FieldError("Give a list.")
        if self.min_items is not None and len(value) < self.min_items:
            raise FieldError(f"Give at least {self.min_items}.")
        if self.max_items is not None and len(value) > self.max_items:
            raise FieldError(f"Give at most {self.max_items}.")
        loaded = []
        for index, item in enumerate(value):
            try:
                loaded.append(self.items.load(item))
            except FieldError as exc:
                raise FieldError(f"Item {index + 1}: {exc}") from exc
        return loaded


class Schema:
    """A JSON object of named fields (a request body)."""

    def __init__(self, name: str, fields: dict[str, Field], description: str = ""):
        self.name = name
        self.fields = fields
        self.description = description

    def json_schema(self, *, partial: bool = False) -> dict:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {name: f.json_schema() for name, f in self.fields.items()},
            "additionalProperties": False,
        }
        required = [name for name, f in self.fields.items() if f.required and not partial]
        if required:
            schema["required"] = required
        if partial:
            schema["minProperties"] = 1
        if self.description:
            schema["description"] = self.description
        return schema

    def load(self, data, *, partial: bool = False) -> dict:
        """The loaded fields present in data; ValidationFailed with a message per field."""
        if not isinstance(data, dict):
            raise ValidationFailed({"body": "Send a JSON object."})
        errors: dict[str, str] = {}
        loaded: dict[str, Any] = {}
        for name in data:
            if name not in self.fields:
                errors[name] = "Unknown field."
        for name, spec in self.fields.items():
            if name not in data:
                if spec.required and not partial:
                    errors[name] = "This field is required."
                continue
            try:
                loaded[name] = spec.load(data[name])
            except FieldError as exc:
                errors[name] = str(exc)
        if partial and not data:
            errors["body"] = "Send at least one field to change."
        if errors:
            raise ValidationFailed(errors)
        return loaded

    def example(self) -> dict:
        return {name: f.example_value() for name, f in self.fields.items()
                if f.required or f.example is not _MISSING}


def _default_example(schema: dict):
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0]
    if "examples" in schema:
        return schema["examples"][0]
    if schema.get("enum"):
        return schema["enum"][0]
    if schema.get("format") == "date-time":
        return "2025-06-01T09:30:00Z"
    if schema.get("format") == "date":
        return "2025-06-01"
    return {"string": "text", "integer": 1, "boolean": False, "array": [], "object": {}}.get(kind)


def example_for(schema: dict, components: dict[str, dict]):
    """An example value of a JSON Schema (resolving #/components/schemas refs)."""
    if "$ref" in schema:
        return example_for(components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "oneOf" in schema:
        return example_for(schema["oneOf"][0], components)
    if "examples" in schema:
        return schema["examples"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        return {name: example_for(sub, components)
                for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example_for(schema.get("items", {}), components)]
    return _default_example(schema)
