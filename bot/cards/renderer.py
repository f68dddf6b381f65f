"""The one card renderer: a small, safe subset of Adaptive Cards Templating, and the start-up template library.

Template language (a subset of https://learn.microsoft.com/adaptive-cards/templating/language):

* `"${path.to.value}"`: a string that is exactly one expression takes the value's JSON type (number, bool, list,
  object); a null value leaves the property out. Expressions inside longer text are stringified (null → "").
* `"$data": "${list}"` on an element repeats it once per item (in an array the copies are spliced in); inside, names
  resolve against the item, `$data` is the item itself, `$index` its position and `$root` the whole data.
* `"$when": "${expr}"` drops the element (or property) when the expression is false.
* Expressions: `x`, `!x`, `x == 'y'`, `x != 'y'`, `x > 0` (`<`, `<=`, `>=` too), `count(x)` and `string(x)`, where
  x is a dotted path and the right side a literal ('text', a number, true, false, null). Nothing is ever `eval`ed.
* Values from data are inserted as data, never read as template: a student named "${secret}" renders literally.

A path that names a missing key is an error (a typo in a template fails the start-up check), except inside `$when`,
where a missing value counts as null (false).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Protocol, TypeGuard, cast

from pydantic import ValidationError

from bot.cards.actions import add_submit_fallbacks
from bot.cards.views import VIEWS, CardView

logger = logging.getLogger(__name__)

CARD_VERSION: Final = "1.5"
SAMPLES_DIRECTORY: Final = "samples"


class CardTemplateError(Exception):
    """A template is broken or its sample data does not render (raised at start-up)."""


class UnknownCardError(LookupError):
    """No template of that name was loaded."""


class CardRenderError(ValueError):
    """The data does not fit the template (a missing key, a `$data` that is not a list)."""


# --- expressions -------------------------------------------------------------------------------------------------

_EXPRESSION = re.compile(r"\$\{([^{}]*)\}")
_PATH = r"\$?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_LITERAL = r"'[^'\\]*'|-?[0-9]+(?:\.[0-9]+)?|true|false|null"
_GRAMMAR = re.compile(
    rf"""^\s*(?P<neg>!\s*)?
    (?:(?P<func>count|string)\(\s*(?P<fpath>{_PATH})\s*\)|(?P<path>{_PATH}))
    \s*(?:(?P<op>==|!=|>=|<=|>|<)\s*(?P<lit>{_LITERAL}))?\s*$""",
    re.VERBOSE,
)
_MISSING: Final = object()
_OMIT: Final = object()


@dataclass(frozen=True)
class _Expression:
    negate: bool
    function: str | None
    path: tuple[str, ...]
    operator: str | None
    literal: object


@lru_cache(maxsize=512)
def _parse_expression(text: str) -> _Expression:
    match = _GRAMMAR.match(text)
    if match is None:
        raise CardRenderError(f"unsupported expression ${{{text}}}")
    path = match["fpath"] or match["path"]
    operator = match["op"]
    if match["neg"] and operator:
        raise CardRenderError(f"unsupported expression ${{{text}}}: '!' cannot be combined with a comparison")
    literal: object = None
    if operator:
        text_literal = match["lit"]
        literal = text_literal[1:-1] if text_literal.startswith("'") else json.loads(text_literal)
    return _Expression(bool(match["neg"]), match["func"], tuple(path.split(".")), operator, literal)


@dataclass(frozen=True)
class _Scope:
    data: object
    root: object
    index: int | None


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(value, Mapping)


def _is_list(value: object) -> TypeGuard[Sequence[Any]]:
    return isinstance(value, list | tuple)


def _resolve(path: tuple[str, ...], scope: _Scope) -> object:
    head, rest = path[0], path[1:]
    if head == "$root":
        value = scope.root
    elif head == "$data":
        value = scope.data
    elif head == "$index":
        value = scope.index if scope.index is not None else _MISSING
    elif head.startswith("$"):
        raise CardRenderError(f"unknown name {head}")
    else:
        rest = path
        value = scope.data
    for name in rest:
        if not _is_mapping(value) or name not in value:
            return _MISSING
        value = value[name]
    return value


def _truthy(value: object) -> bool:
    if value is _MISSING or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | dict):
        return len(cast(Sequence[object], value)) > 0
    return True


def _same(left: object, right: object) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    return left == right


_ORDER: Final[Mapping[str, Callable[[float, float], bool]]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _evaluate(text: str, scope: _Scope, *, condition: bool) -> object:
    expression = _parse_expression(text)
    value = _resolve(expression.path, scope)
    if expression.function == "count":
        value = len(value) if _is_list(value) or isinstance(value, str) else 0
    elif value is _MISSING:
        if not condition:
            raise CardRenderError(f"${{{text}}}: no value named {'.'.join(expression.path)!r}")
        value = None
    if expression.function == "string":
        value = _stringify(value)
    if expression.negate:
        return not _truthy(value)
    if expression.operator is None:
        return value
    if expression.operator == "==":
        return _same(value, expression.literal)
    if expression.operator == "!=":
        return not _same(value, expression.literal)
    if not _is_number(value) or not _is_number(expression.literal):
        return False
    return _ORDER[expression.operator](float(cast(float, value)), float(cast(float, expression.literal)))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _stringify(value: object) -> str:
    if value is None or value is _MISSING:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


# --- template walk -----------------------------------------------------------------------------------------------


def _render_string(text: str, scope: _Scope) -> object:
    whole = _EXPRESSION.fullmatch(text)
    if whole is not None:
        value = _evaluate(whole[1], scope, condition=False)
        return _OMIT if value is None else value
    if "${" not in text:
        return text
    return _EXPRESSION.sub(lambda match: _stringify(_evaluate(match[1], scope, condition=False)), text)


def _condition(value: object, scope: _Scope) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        whole = _EXPRESSION.fullmatch(value)
        if whole is not None:
            return _truthy(_evaluate(whole[1], scope, condition=True))
    raise CardRenderError(f"$when must be a boolean or a single ${{expression}}, not {value!r}")


def _bound_items(value: object, scope: _Scope) -> tuple[list[_Scope], bool]:
    """Evaluate a `$data` value into one scope per copy of the element, and whether it was a list."""
    if isinstance(value, str):
        whole = _EXPRESSION.fullmatch(value)
        if whole is None:
            raise CardRenderError(f"$data must be a single ${{expression}}, not {value!r}")
        bound = _evaluate(whole[1], scope, condition=False)
    else:
        bound = value
    if _is_list(bound):
        return [_Scope(item, scope.root, index) for index, item in enumerate(bound)], True
    if bound is None:
        return [], False
    return [_Scope(bound, scope.root, None)], False


def _render_object(template: Mapping[str, Any], scope: _Scope) -> object:
    result: dict[str, Any] = {}
    if "$when" in template and not _condition(template["$when"], scope):
        return _OMIT
    for key, value in template.items():
        if key == "$when":
            continue
        if key.startswith("$") and key != "$schema":
            raise CardRenderError(f"unknown template keyword {key}")
        rendered = _render_node(value, scope)
        if rendered is not _OMIT:
            result[key] = rendered
    return result


def _render_node(node: object, scope: _Scope) -> object:
    if isinstance(node, str):
        return _render_string(node, scope)
    if _is_list(node):
        items: list[Any] = []
        for item in node:
            if _is_mapping(item) and "$data" in item:
                items.extend(_repeat(item, scope))
                continue
            rendered = _render_node(item, scope)
            if rendered is not _OMIT:
                items.append(rendered)
        return items
    if _is_mapping(node):
        if "$data" in node:
            copies, repeated = _expand(node, scope)
            if repeated:
                return copies
            return copies[0] if copies else _OMIT
        return _render_object(node, scope)
    return node


def _repeat(template: Mapping[str, Any], scope: _Scope) -> list[Any]:
    return _expand(template, scope)[0]


def _expand(template: Mapping[str, Any], scope: _Scope) -> tuple[list[Any], bool]:
    """Render an element once per item of its `$data`; the flag says whether `$data` was a list."""
    body = {key: value for key, value in template.items() if key != "$data"}
    scopes, repeated = _bound_items(template["$data"], scope)
    copies: list[Any] = []
    for inner in scopes:
        rendered = _render_object(body, inner)
        if rendered is not _OMIT:
            copies.append(rendered)
    return copies, repeated


def render_template(template: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Expand a template (already parsed JSON) with `data`.

    Args:
        template: the template object.
        data: the values; `$root` in the template.

    Returns:
        The expanded object (a new object; neither argument is changed).

    Raises:
        CardRenderError: an expression is outside the supported set, names a missing value, or `$when`/`$data` is
            malformed.
    """
    scope = _Scope(data, data, None)
    rendered = _render_object(template, scope)
    if not isinstance(rendered, dict):
        raise CardRenderError("the template's root element has a false $when")
    return cast(dict[str, Any], rendered)


# --- library ------------------------------------------------------------------------------------------------------


class CardLibrary:
    """The card templates, loaded and checked once at start-up. Render with `render` or `render_view`."""

    def __init__(self, templates: Mapping[str, Mapping[str, Any]]) -> None:
        """Wrap already-checked templates; use `CardLibrary.load` to read and check a directory."""
        self._templates = dict(templates)

    @property
    def names(self) -> frozenset[str]:
        """The names of the loaded templates."""
        return frozenset(self._templates)

    @classmethod
    def load(cls, directory: Path, schema_path: Path | None = None) -> CardLibrary:
        """Read every `<name>.json` template in `directory` and check it renders its sample.

        Each template must be JSON, an `AdaptiveCard` of version "1.5", and have a sample `samples/<name>.json`.
        A template with a view model (`bot.cards.views.VIEWS`) gets its sample validated by that model; every
        view model's template must be present. With `schema_path`, each rendered sample is also validated
        against the Adaptive Cards JSON schema (the root `msteams` key removed first; jsonschema is needed).

        Args:
            directory: the folder holding the templates (`cards/`).
            schema_path: the Adaptive Cards 1.5 JSON schema, or None to skip the schema check.

        Returns:
            The loaded library.

        Raises:
            CardTemplateError: the folder or a template or sample is missing, unreadable or broken; the message
                names the file and the problem.
        """
        if not directory.is_dir():
            raise CardTemplateError(f"card template folder {directory} does not exist")
        schema_check = _schema_checker(schema_path) if schema_path is not None else None
        templates: dict[str, Mapping[str, Any]] = {}
        for path in sorted(directory.glob("*.json")):
            templates[path.stem] = _read_template(path)
        missing = sorted(set(VIEWS) - set(templates))
        if missing:
            names = ", ".join(f"{name}.json" for name in missing)
            raise CardTemplateError(f"card template(s) missing from {directory}: {names}")
        library = cls(templates)
        for name in sorted(templates):
            sample_path = directory / SAMPLES_DIRECTORY / f"{name}.json"
            card = library._render_sample(name, sample_path)
            if schema_check is not None:
                problems = schema_check(card)
                if problems:
                    raise CardTemplateError(f"{name}.json rendered with its sample is not a valid card: {problems}")
        logger.debug("loaded %d card templates from %s", len(templates), directory)
        return library

    def _render_sample(self, name: str, sample_path: Path) -> dict[str, Any]:
        if not sample_path.is_file():
            raise CardTemplateError(f"{name}.json has no sample data: {sample_path} is missing")
        sample = _read_json(sample_path)
        if not _is_mapping(sample):
            raise CardTemplateError(f"{sample_path}: sample data must be a JSON object")
        try:
            view_type = VIEWS.get(name)
            data = view_type.model_validate(sample).to_data() if view_type is not None else sample
            return self.render(name, data)
        except ValidationError as error:
            raise CardTemplateError(f"{sample_path} does not fit the {name} view: {error}") from error
        except CardRenderError as error:
            raise CardTemplateError(f"{name}.json does not render with its sample: {error}") from error

    def render(self, template_name: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Render one template with `data`; every `Action.Execute` gets its `Action.Submit` fallback.

        Args:
            template_name: the template's file name without `.json` (e.g. "result").
            data: the values the template refers to.

        Returns:
            The Adaptive Card as a JSON-ready dict.

        Raises:
            UnknownCardError: no template of that name was loaded.
            CardRenderError: the data does not fit the template.
        """
        template = self._templates.get(template_name)
        if template is None:
            known = ", ".join(sorted(self._templates))
            raise UnknownCardError(f"no card template named {template_name!r} (loaded: {known})")
        try:
            card = render_template(template, data)
        except CardRenderError as error:
            raise CardRenderError(f"card {template_name!r}: {error}") from error
        return add_submit_fallbacks(card)  # the rendered card is new: no copy needed

    def template(self, name: str) -> Mapping[str, Any]:
        """The loaded template (read-only: rendering never changes it)."""
        return self._templates[name]

    def render_view(self, view: CardView) -> dict[str, Any]:
        """Render a view model with its own template (`view.template`).

        Raises:
            UnknownCardError: the view's template was not loaded.
            CardRenderError: the view's data does not fit the template.
        """
        return self.render(view.template, view.to_data())


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CardTemplateError(f"{path}: cannot be read ({error.strerror})") from error
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise CardTemplateError(f"{path}: not valid JSON: {where}: {error.msg}") from error


def _read_template(path: Path) -> Mapping[str, Any]:
    template = _read_json(path)
    if not _is_mapping(template):
        raise CardTemplateError(f"{path.name}: a card template must be a JSON object")
    if template.get("type") != "AdaptiveCard":
        raise CardTemplateError(f"{path.name}: type must be 'AdaptiveCard', not {template.get('type')!r}")
    if template.get("version") != CARD_VERSION:
        raise CardTemplateError(f"{path.name}: version must be {CARD_VERSION!r}, not {template.get('version')!r}")
    return template


class _SchemaError(Protocol):
    """The parts of a jsonschema ValidationError this module reads (jsonschema ships no type hints)."""

    message: str
    validator: object
    absolute_path: Sequence[object]
    relative_path: Sequence[object]
    context: list[_SchemaError] | None


def _schema_checker(schema_path: Path) -> Callable[[Mapping[str, Any]], str]:
    """Build a function that returns "" for a valid card or a one-line description of the first problem."""
    try:
        from jsonschema import Draft6Validator
    except ImportError as error:
        raise CardTemplateError("the card schema check needs the jsonschema package") from error
    schema = _read_json(schema_path)
    validator = Draft6Validator(cast(Any, schema))

    def check(card: Mapping[str, Any]) -> str:
        instance = {key: value for key, value in card.items() if key != "msteams"}
        errors = cast(list[_SchemaError], list(validator.iter_errors(instance)))  # pyright: ignore[reportUnknownMemberType]
        if not errors:
            return ""
        # Every element is an anyOf over all element types: skip the "wrong type" branches, report the deepest.
        candidates = [
            inner
            for error in errors
            for inner in (error.context or [error])
            if not (inner.validator == "enum" and list(inner.relative_path) == ["type"])
        ] or errors
        deepest = max(candidates, key=lambda error: len(error.absolute_path))
        where = "/".join(str(part) for part in deepest.absolute_path) or "(root)"
        return f"{where}: {deepest.message[:200]}"

    return check
