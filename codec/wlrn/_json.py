"""Canonical JSON: the exact bytes JavaScript's ``JSON.stringify`` writes for a key-sorted
value, and a strict parser for JSON read from untrusted bundles."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import BundleError

#: Deepest nesting of arrays/objects accepted by the encoder and the parser. The parser checks
#: it before handing the text to :mod:`json`, whose scanner recurses once per level.
MAX_DEPTH = 256

_MAX_SAFE = 2**53

_ESCAPE_RE = re.compile('([\ud800-\udbff][\udc00-\udfff])|[\x00-\x1f"\\\\\ud800-\udfff]')
_SHORT_ESCAPES = {
    '"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
}


class _EncodeError(Exception):
    """Carries the path to an unencodable value up to :func:`encode_json`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.path: list[str] = []


def _escape(match: re.Match) -> str:
    pair = match.group(1)
    if pair:
        # A Python str may hold a surrogate pair as two code points; JS sees one character.
        return chr(0x10000 + ((ord(pair[0]) - 0xD800) << 10) + (ord(pair[1]) - 0xDC00))
    char = match.group(0)
    return _SHORT_ESCAPES.get(char) or "\\u%04x" % ord(char)


def quote(text: str) -> str:
    """``JSON.stringify`` of a string: short escapes, other C0 controls and lone surrogates
    as lowercase ``\\uXXXX``, everything else (DEL, U+2028, ``/``) left raw."""
    return '"' + _ESCAPE_RE.sub(_escape, text) + '"'


def utf16_key(text: str) -> bytes:
    """Sort key that orders strings by UTF-16 code units, as JavaScript compares them."""
    return text.encode("utf-16-be", "surrogatepass")


def format_number(value: float) -> str:
    """ECMAScript ``Number::toString`` of a double (NaN and infinities give ``null``)."""
    if value != value or value in (math.inf, -math.inf):
        return "null"
    if value == 0:
        return "0"  # covers -0
    if value < 0:
        return "-" + format_number(-value)
    # repr() gives the shortest round-tripping digits, the same digits ECMAScript picks;
    # only the placement of the decimal point and exponent differs.
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    significant = digits.lstrip("0")
    point -= len(digits) - len(significant)
    digits = significant.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        return digits + "0" * (point - k)
    if 0 < point <= 21:
        return digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    exp = point - 1
    head = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{head}e{'+' if exp >= 0 else '-'}{abs(exp)}"


def _format_int(value: int) -> str:
    if -_MAX_SAFE <= value <= _MAX_SAFE:
        return str(value)
    try:
        as_double = float(value)
    except OverflowError:
        as_double = math.inf
    if as_double != value:
        # JS holds every number as a double; refuse to round silently.
        raise _EncodeError(f"integer {value} is not exactly representable as a double")
    return format_number(as_double)


def _write(value: Any, out: list[str], depth: int) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(quote(value))
    elif isinstance(value, int):
        out.append(_format_int(int(value)))
    elif isinstance(value, float):
        out.append(format_number(float(value)))
    elif isinstance(value, (dict, Mapping)):
        if depth >= MAX_DEPTH:
            raise _EncodeError(f"nested deeper than {MAX_DEPTH} levels (or circular)")
        for key in value:
            if not isinstance(key, str):
                raise _EncodeError(f"object key {key!r} is not a string")
        keyed = sorted((utf16_key(key), key) for key in value)
        for (units, key), (next_units, _) in zip(keyed, keyed[1:]):
            if units == next_units:  # one character spelled both as a pair and as itself
                raise _EncodeError(f"two keys are the same JavaScript string: {quote(key)}")
        out.append("{")
        first = True
        for _, key in keyed:
            if not first:
                out.append(",")
            first = False
            out.append(quote(key))
            out.append(":")
            try:
                _write(value[key], out, depth + 1)
            except _EncodeError as exc:
                exc.path.append(key)
                raise
        out.append("}")
    elif isinstance(value, (list, tuple)):
        if depth >= MAX_DEPTH:
            raise _EncodeError(f"nested deeper than {MAX_DEPTH} levels (or circular)")
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            try:
                _write(item, out, depth + 1)
            except _EncodeError as exc:
                exc.path.append(f"[{index}]")
                raise
        out.append("]")
    elif getattr(value, "shape", None) == () and hasattr(value, "item"):
        _write(value.item(), out, depth)  # numpy scalars and 0-d arrays
    else:
        raise _EncodeError(f"a {type(value).__name__} is not JSON (use lists, dicts, str, "
                           "int, float, bool or None)")


def _render_path(parts: list[str]) -> str:
    path = "".join(part if part.startswith("[") else f".{part}" for part in reversed(parts))
    return path or "(root)"


def dumps(value: Any) -> str:
    """Canonical JSON text of ``value`` (see :func:`encode_json`)."""
    out: list[str] = []
    try:
        _write(value, out, 0)
    except _EncodeError as exc:
        raise BundleError(f"cannot encode JSON at {_render_path(exc.path)}: {exc}") from None
    return "".join(out)


def encode_json(value: Any) -> bytes:
    """Canonical UTF-8 JSON bytes of ``value``, identical to ``encodeJSON`` of @wlearn/core.

    Object keys are sorted by UTF-16 code units, there is no whitespace, numbers use the
    ECMAScript format and NaN/Infinity become ``null``. Raises :class:`BundleError` for values
    JSON cannot hold, integers that are not exact doubles, and nesting beyond ``MAX_DEPTH``.
    """
    return dumps(value).encode("utf-8")


# --- strict parsing -----------------------------------------------------------------------

# A JSON string token (closed), or one bracket. Brackets inside strings are skipped.
_STRUCTURE_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class _Reject(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _Reject(f"{name} is not allowed in JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Reject(f"number {text[:40]} overflows a double")
    return value


def _parse_int(text: str) -> int | float:
    value = int(text)
    # JavaScript reads every number as a double; beyond 2^53 keep what JS would hold.
    return value if -_MAX_SAFE <= value <= _MAX_SAFE else _parse_float(text)


def _unique_object(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Reject(f"duplicate key {quote(key)}")
            seen.add(key)
    return obj


def _depth_over(text: str, limit: int) -> int | None:
    """The nesting depth of JSON ``text`` if it exceeds ``limit``, else None. Linear time,
    no recursion; brackets inside strings are skipped."""
    if text.count("[") + text.count("{") <= limit:
        return None  # cannot be deeper than the number of openers
    depth = deepest = 0
    for match in _STRUCTURE_RE.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest if deepest > limit else None


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LITERALS = (("null", None), ("true", True), ("false", False))


def _parse_iterative(text: str) -> Any:
    """JSON with the rules of :func:`parse_strict`, at any depth: an explicit stack instead of
    the recursion of :mod:`json`, so memory grows with the text, never the call stack. Only
    used for text nested deeper than ``MAX_DEPTH`` (which JavaScript writes, up to its own
    stack limit of some 2,500 levels)."""
    from json.decoder import scanstring

    def fail(what: str, at: int) -> _Reject:
        return _Reject(f"{what}: line 1 column {at + 1} (char {at})")

    def skip(at: int) -> int:
        return _WHITESPACE.match(text, at).end()

    def key_at(at: int) -> tuple[str, int]:
        if not text.startswith('"', at):
            raise fail("Expecting property name enclosed in double quotes", at)
        key, at = scanstring(text, at + 1, True)
        at = skip(at)
        if not text.startswith(":", at):
            raise fail("Expecting ':' delimiter", at)
        return key, skip(at + 1)

    stack: list[list[Any]] = []  # [is_object, items, pending key]
    at = skip(0)
    while True:
        char = text[at:at + 1]
        if char in ("{", "["):
            at = skip(at + 1)
            closing = "}" if char == "{" else "]"
            if text.startswith(closing, at):
                value: Any = {} if char == "{" else []
                at += 1
            elif char == "{":
                key, at = key_at(at)
                stack.append([True, [], key])
                continue
            else:
                stack.append([False, [], None])
                continue
        elif char == '"':
            value, at = scanstring(text, at + 1, True)
        else:
            number = _NUMBER.match(text, at)
            if number:
                whole, fraction, exponent = number.groups()
                value = (_parse_float(number.group()) if fraction or exponent
                         else _parse_int(whole))
                at = number.end()
            else:
                for name, constant in _LITERALS:
                    if text.startswith(name, at):
                        value, at = constant, at + len(name)
                        break
                else:
                    for name in ("NaN", "Infinity", "-Infinity"):
                        if text.startswith(name, at):
                            _reject_constant(name)
                    raise fail("Expecting value", at)
        while True:  # attach the value, closing every container it completes
            if not stack:
                at = skip(at)
                if at != len(text):
                    raise fail("Extra data", at)
                return value
            frame = stack[-1]
            frame[1].append((frame[2], value) if frame[0] else value)
            at = skip(at)
            char = text[at:at + 1]
            if char == ",":
                at = skip(at + 1)
                if frame[0]:
                    frame[2], at = key_at(at)
                break
            if char != ("}" if frame[0] else "]"):
                raise fail("Expecting ',' delimiter", at)
            stack.pop()
            value = _unique_object(frame[1]) if frame[0] else frame[1]
            at += 1


def decode_json(data: bytes | bytearray | memoryview) -> Any:
    """Parse JSON bytes (such as a JSON artifact) with the strict rules of
    :func:`parse_strict`; the counterpart of :func:`encode_json`."""
    return parse_strict(data, "")


def parse_strict(raw: bytes | memoryview, what: str) -> Any:
    """Parse untrusted JSON bytes. Refuses invalid UTF-8 (and a BOM), NaN/Infinity, numbers
    that overflow a double, duplicate object keys and nesting beyond ``MAX_DEPTH``, always
    with a :class:`BundleError` starting "Invalid <what> JSON: " (as @wlearn/core's)."""
    return parse_json(raw, what, max_depth=MAX_DEPTH)[0]


def parse_json(raw: bytes | memoryview, what: str, *,
               max_depth: int | None) -> tuple[Any, int | None]:
    """:func:`parse_strict` with a chosen depth limit (None: any depth, read without
    recursion). Returns ``(value, depth)``, ``depth`` being the nesting depth when it exceeds
    ``MAX_DEPTH`` and None otherwise."""
    label = f"Invalid {what} JSON" if what else "Invalid JSON"
    try:
        text = str(raw, "utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"{label}: not valid UTF-8 (byte {exc.start}: {exc.reason})") from None
    depth = _depth_over(text, MAX_DEPTH)
    if depth is not None and max_depth is not None and depth > max_depth:
        raise BundleError(f"{label}: nested deeper than {max_depth} levels")
    try:
        if depth is not None:
            return _parse_iterative(text), depth
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
            object_pairs_hook=_unique_object,
        ), None
    except (ValueError, RecursionError) as exc:
        raise BundleError(f"{label}: {exc}") from None
