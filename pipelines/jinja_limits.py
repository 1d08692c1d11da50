"""The Jinja sandbox for step params, conditions and template values, with resource limits.

Jinja's ``ImmutableSandboxedEnvironment`` stops attribute escapes but not resource bombs: ``'x' * 10**9``,
``'x'|center(10**9)``, nested loops, exponential macros. Every render here gets a work budget and every
operation that can allocate is checked *before* it allocates, so a hostile template fails its step in
milliseconds with ``TemplateLimitError`` (Jinja folds constant expressions while compiling, so the intercepted
operators are never folded).

These checks are the first line: cheap, with clear messages. They cannot bound every C-level operation, so
renders also run in a worker process with OS limits (``pipelines.render_pool``), which is the guarantee.
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import wraps
from typing import Any

from jinja2 import nodes, pass_environment
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

MAX_RANGE = 10_000  # items of one range() (Jinja's own MAX_RANGE is 100,000)
MAX_SIZE = 1_000_000  # characters of a string any operation may produce, and of the rendered output
MAX_ITEMS = 100_000  # items of a list / tuple / dict any operation may produce
MAX_INT_BITS = 4_096  # integers from * and ** (10**1233 fits)
# Work units per render: every loop iteration, call, filter and intercepted operator costs OP_COST plus the
# size of what it reads and makes. Bounds CPU time to well under a second whatever the template does.
WORK_BUDGET = 50_000_000
OP_COST = 500

_SIZED = (str, list, tuple, dict, bytes)
# ``%(key)-08.3d``: the mapping key, flags, width and precision of one %-conversion.
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?")
# A str.format spec, ``[[fill]align][sign][z][#][0][width][grouping][.precision][type]``: the fill may be a digit
# (``{:0>9}``), so the width is only found by parsing the whole spec, not by the first digit.
_FORMAT_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(\d*)[,_]?(?:\.(\d*))?")
_NESTED_FIELD = re.compile(r"\{[^{}]*\{")
_WIDTH_FILTERS = frozenset({"center", "wordwrap", "batch", "slice", "truncate"})
# Filters that turn their arguments into text: the text they would make is estimated before they run, so that
# ``[[0] * 100000] * 1000 | tojson`` fails without first allocating a 300 MB string.
_STRINGIFYING_FILTERS = frozenset(
    {
        "string",
        "tojson",
        "pprint",
        "join",
        "format",
        "e",
        "escape",
        "forceescape",
        "safe",
        "trim",
        "upper",
        "lower",
        "title",
        "capitalize",
        "replace",
        "striptags",
        "urlencode",
        "urlize",
        "truncate",
        "wordcount",
        "center",
        "indent",
        "wordwrap",
        "xmlattr",
    }
)


class TemplateLimitError(SecurityError):
    """A template would use more memory or time than a step param may."""


class _Budget(threading.local):
    left: int | None = None  # None outside a render (e.g. constant folding at compile time): sizes still checked


_budget = _Budget()


def start_budget() -> None:
    _budget.left = WORK_BUDGET


def _spend(units: int) -> None:
    if _budget.left is None:
        return
    _budget.left -= OP_COST + units
    if _budget.left < 0:
        raise TemplateLimitError("template does too much work (loops, calls or operations); simplify it")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, _SIZED) else 0


def _limit(value: Any) -> int:
    return MAX_SIZE if isinstance(value, str | bytes) else MAX_ITEMS


def _check_size(value: Any, what: str = "result") -> Any:
    _check_planned(_size(value), what, _limit(value))
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimitError(f"{what} would be an integer of {value.bit_length():,} bits (limit {MAX_INT_BITS:,})")
    return value


def _check_planned(size: int, what: str, limit: int = MAX_SIZE) -> None:
    if size > limit:
        raise TemplateLimitError(f"{what} would be {size:,} long (limit {limit:,})")


def text_size(value: Any, limit: int) -> int:
    """A cheap lower estimate of ``len(str(value))`` (or of its JSON), walking containers; stops as soon as it
    passes ``limit``, so it costs at most ``limit`` steps whatever ``value`` is."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            if total <= limit:
                stack.extend(item)
        elif isinstance(item, range):
            total += 2 + 3 * len(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 4 + 1  # about bits / 3.3 decimal digits
        else:
            total += 4
    return total


def _check_text(values: Iterable[Any], what: str) -> None:
    """Refuse arguments whose text form would pass ``MAX_SIZE`` before anything calls ``str()`` on them."""
    total = 0
    for value in values:
        if isinstance(value, list | tuple | dict | set | frozenset | range | int) and not isinstance(value, bool):
            total += text_size(value, MAX_SIZE - total)
        elif isinstance(value, str | bytes):
            total += len(value)
        if total > MAX_SIZE:
            raise TemplateLimitError(f"{what} would be over {MAX_SIZE:,} characters")
    _spend(total)  # the walk itself is work: repeating it in a loop must run out of budget


def _format_widths(fmt: str) -> list[int]:
    widths = [int(w) for match in _PERCENT_SPEC.findall(fmt) for w in match if w.isdigit()]
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        fields = []  # str.format raises the same error when it runs
    for _, _, spec, _ in fields:
        match = _FORMAT_SPEC.match(spec or "")
        widths += [int(w) for w in match.groups() if w] if match else []
    return widths


def _check_format(fmt: str, args: Iterable[Any]) -> None:
    """Widths/precisions in a ``%`` or ``str.format`` string; ints (and short strings, which can be a whole
    spec) passed in count when they can be widths (``%*d``, nested ``{:{}}``)."""
    widths = _format_widths(fmt)
    if "*" in fmt or _NESTED_FIELD.search(fmt):
        for arg in args:
            if isinstance(arg, int) and not isinstance(arg, bool):
                widths.append(arg)
            elif isinstance(arg, str) and len(arg) < 100:
                widths += _format_widths("{:" + arg.replace("{", "").replace("}", "") + "}")
    if widths:
        _check_planned(max(widths), "a formatted field")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise TemplateLimitError(f"integer product too large (limit {MAX_INT_BITS:,} bits)")
        elif isinstance(left, _SIZED) and isinstance(right, int):
            _check_planned(len(left) * right, f"{type(left).__name__} * {right:,}", _limit(left))
        elif isinstance(right, _SIZED) and isinstance(left, int):
            _check_planned(len(right) * left, f"{left:,} * {type(right).__name__}", _limit(right))
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        if max(abs(left).bit_length() - 1, 0) * right > MAX_INT_BITS:
            raise TemplateLimitError(f"{left} ** {right} is too large (limit {MAX_INT_BITS:,} bits)")
    elif operator == "+" and isinstance(left, _SIZED) and isinstance(right, _SIZED):
        _check_planned(len(left) + len(right), "the concatenation", _limit(left))
    elif operator == "%" and isinstance(left, str):
        args = right if isinstance(right, tuple) else (right,)
        _check_text(args, "the % formatting")
        _check_format(left, args)


def _check_str_method(name: str, text: str, args: tuple, kwargs: dict) -> None:
    """Pre-checks for the ``str`` methods whose output can be much larger than their input."""
    ints = [a for a in (*args, *kwargs.values()) if isinstance(a, int) and not isinstance(a, bool)]
    if name in ("center", "ljust", "rjust", "zfill") and ints:
        _check_planned(max(ints), f"str.{name}()")
    elif name == "expandtabs":
        _check_planned(len(text) + text.count("\t") * max(ints or [8]), "str.expandtabs()")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        _check_planned(len(text) + (text.count(args[0]) + (not args[0])) * len(args[1]), "str.replace()")
    elif name == "join" and args and isinstance(args[0], list | tuple):
        _check_planned(sum(map(_size, args[0])) + len(text) * len(args[0]), "str.join()")
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        _check_planned(len(text) * longest, "str.translate()")
    elif name in ("format", "format_map"):
        values = [*args, *kwargs.values()]
        values += [v for a in args if isinstance(a, dict) for v in a.values()]  # format_map's mapping
        _check_text(values, "str.format()")
        _check_format(text, values)


def _check_filter(name: str, args: tuple, kwargs: dict) -> None:
    if name in _STRINGIFYING_FILTERS:
        _check_text((*args, *kwargs.values()), f"the text for the {name} filter")
    ints = [a for a in (*args[1:], *kwargs.values()) if isinstance(a, int) and not isinstance(a, bool)]
    if name == "indent" and args:
        width = args[1] if len(args) > 1 else kwargs.get("width", 4)
        width = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        text = str(args[0])
        _check_planned(len(text) + (text.count("\n") + 1) * width, "the indent filter's result")
    elif name in _WIDTH_FILTERS and ints:
        _check_planned(max(ints), f"the {name} filter's width")
    elif name == "replace" and len(args) >= 3 and isinstance(args[0], str):
        _check_str_method("replace", args[0], (str(args[1]), str(args[2])), {})
    elif name == "join" and args and isinstance(args[0], list | tuple):
        separator = args[1] if len(args) > 1 else kwargs.get("d", "")
        _check_planned(sum(map(_size, args[0])) + len(str(separator)) * len(args[0]), "the join filter")
    elif name == "format" and args and isinstance(args[0], str):
        _check_format(args[0], (*args[1:], *kwargs.values()))


@pass_environment
def _linear_sum(environment: Any, iterable: Iterable[Any], attribute: str | int | None = None, start: Any = 0) -> Any:
    """Jinja's ``sum``, except that lists and tuples are concatenated in linear time with a size check per item:
    Python's ``sum(..., start=[])`` copies the growing list once per item (quadratic, and all of it in one C
    call that holds the GIL: ``[[0]*100000]*250 | sum(start=[])`` froze the web process for 18 s)."""
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    if not isinstance(start, list | tuple):
        return sum(iterable, start)
    out = list(start)
    for item in iterable:
        if type(item) is not type(start):
            raise TypeError(f"can only concatenate {type(start).__name__} (not {type(item).__name__})")
        _check_planned(len(out) + len(item), "the sum filter's result", MAX_ITEMS)
        _spend(len(item))
        out.extend(item)
    return type(start)(out)


def _check_printable(value: Any) -> Any:
    """``finalize`` of every ``{{ ... }}`` output: refuse values whose text would be too long before Jinja
    calls ``str()`` on them."""
    _check_text((value,), "the printed value")
    return value


def _limited_filter(name: str, func: Callable) -> Callable:
    @wraps(func)  # keeps jinja_pass_arg (pass_environment / pass_eval_context)
    def limited(*args: Any, **kwargs: Any) -> Any:
        values = args[1:] if getattr(func, "jinja_pass_arg", None) else args
        _check_filter(name, values, kwargs)
        _spend(sum(map(_size, values)))
        return _check_size(func(*args, **kwargs), f"the {name} filter's result")

    return limited


class _Rewrite(NodeTransformer):
    """Route loops and ``~`` through the environment so that they are counted and bounded."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(nodes.EnvironmentAttribute("limited_iter"), [node.iter], [], None, None)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(
            nodes.EnvironmentAttribute("limited_concat"), list(node.nodes), [], None, None, lineno=node.lineno
        )


class LimitedSandboxedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})

    def __init__(self, **options: Any):
        super().__init__(finalize=_check_printable, **options)
        self.globals["range"] = self.limited_range
        self.globals.pop("lipsum", None)  # lipsum(n) makes n paragraphs
        self.filters["sum"] = _linear_sum
        self.filters = {name: _limited_filter(name, f) for name, f in self.filters.items()}

    def _generate(
        self, source: nodes.Template, name: str | None, filename: str | None, defer_init: bool = False
    ) -> str:
        return super()._generate(_Rewrite().visit(source), name, filename, defer_init=defer_init)

    @staticmethod
    def limited_range(*args: int) -> range:
        rng = range(*args)
        if len(rng) > MAX_RANGE:
            raise TemplateLimitError(f"range() of {len(rng):,} items (limit {MAX_RANGE:,})")
        return rng

    @staticmethod
    def limited_iter(iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            _spend(0)
            yield item

    @staticmethod
    def limited_concat(*parts: Any) -> str:
        _check_text(parts, "the ~ concatenation")
        texts = [str(p) for p in parts]
        _check_planned(sum(map(len, texts)), "the ~ concatenation")
        _spend(sum(map(len, texts)))
        return "".join(texts)

    def concat(self, parts: Iterable[str]) -> str:  # type: ignore[override]
        """Joins template, macro and block output, refusing it once it grows past ``MAX_SIZE``."""
        out, size = [], 0
        for part in parts:
            size += len(part)
            _check_planned(size, "the rendered text")
            out.append(part)
        return "".join(out)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        _spend(_size(left) + _size(right))
        return _check_size(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        method = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(getattr(method, "__name__", ""), owner, args, kwargs)
        _spend(_size(owner) + sum(map(_size, args)))
        return _check_size(super().call(__context, __obj, *args, **kwargs))
