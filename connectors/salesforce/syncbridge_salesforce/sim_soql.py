"""The subset of SOQL the Salesforce simulator understands, parsed and compiled to predicates.

Accepted: ``SELECT f1, f2 FROM Object [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST],
...] [LIMIT n]`` where ``cond`` combines ``field op literal`` (``= != <> < <= > >=``) and
``field [NOT] IN (literals)`` with ``AND``, ``OR``, ``NOT`` and parentheses; as in SOQL,
``AND`` and ``OR`` are not mixed without parentheses. Literals: ``'text'`` (backslash
escapes), dates ``2026-01-05``, datetimes ``2026-01-05T09:00:00Z`` / ``+01:00`` (optional
fraction), numbers, ``TRUE``/``FALSE``/``NULL``. Text compares case-insensitively, ids
by their 15-character form, as Salesforce does.

Anything else (relationship paths, functions, sub-queries, ``GROUP BY``, ``OFFSET``,
``LIKE``, date literals such as ``LAST_N_DAYS``...) raises :class:`SoqlError`
``MALFORMED_QUERY``; unknown fields ``INVALID_FIELD``; unknown objects ``INVALID_TYPE``.
Nothing is silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<other>\S)
    )""",
    re.VERBOSE,
)
_UNSUPPORTED = frozenset(
    {"GROUP", "HAVING", "OFFSET", "LIKE", "INCLUDES", "EXCLUDES", "TYPEOF", "WITH", "FOR",
     "USING", "FIELDS", "COUNT", "SELECT"}
)  # fmt: skip
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
TEXT_TYPES = frozenset(
    {"string", "picklist", "multipicklist", "textarea", "email", "phone", "url", "combobox"}
)
ID_TYPES = frozenset({"id", "reference"})


class SoqlError(ValueError):
    """A query Salesforce refuses: ``error_code`` is its ``errorCode``."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    column: int


@dataclass(frozen=True)
class OrderKey:
    field: str
    descending: bool = False
    nulls_last: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed query: object, fields (describe spelling), filter, order, limit."""

    sobject: str
    fields: tuple[str, ...]
    where: Predicate | None
    #: The least ``SystemModstamp`` a row can have to match (None: no bound).
    modstamp_floor: datetime | None
    order: tuple[OrderKey, ...]
    limit: int | None


def _tokens(soql: str) -> list[_Tok]:
    out = []
    for match in _TOKEN.finditer(soql):
        kind = match.lastgroup or "other"
        out.append(_Tok(kind, match.group(kind), match.start(kind) + 1))
    return out


class _Parser:
    def __init__(self, soql: str, schema: Mapping[str, Mapping[str, str]]) -> None:
        self.soql = soql
        self.schema = schema
        self.toks = _tokens(soql)
        self.i = 0
        self.types: Mapping[str, str] = {}
        self.by_lower: dict[str, str] = {}
        self.sobject = ""

    # -- token helpers -----------------------------------------------------------------------

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def at(self, text: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.text == text

    def word(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "word" and tok.text.upper() in words

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        self.i += 1
        return tok

    def expect_word(self, word: str) -> None:
        tok = self.take()
        if tok.kind != "word" or tok.text.upper() != word:
            raise self.unexpected(tok)

    def expect_punct(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise self.unexpected(tok)

    def unexpected(self, tok: _Tok) -> SoqlError:
        if tok.kind == "word" and tok.text.upper() in _UNSUPPORTED:
            return SoqlError(
                "MALFORMED_QUERY", f"{tok.text.upper()} is not supported by this simulator"
            )
        return SoqlError(
            "MALFORMED_QUERY",
            f"\n{self.soql}\nERROR at Row:1:Column:{tok.column}\nunexpected token: '{tok.text}'",
        )

    # -- grammar ------------------------------------------------------------------------------

    def query(self) -> Query:
        self.expect_word("SELECT")
        raw_fields = [self.take()]
        while self.at(","):
            self.take()
            raw_fields.append(self.take())
        self.expect_word("FROM")
        obj = self.take()
        if obj.kind != "word":
            raise self.unexpected(obj)
        types = {k.lower(): k for k in self.schema}
        if obj.text.lower() not in types:
            raise SoqlError("INVALID_TYPE", f"sObject type '{obj.text}' is not supported.")
        self.sobject = types[obj.text.lower()]
        self.types = self.schema[self.sobject]
        self.by_lower = {k.lower(): k for k in self.types}
        fields = tuple(dict.fromkeys(self.field(t) for t in raw_fields))
        where, floor = (None, None)
        if self.word("WHERE"):
            self.take()
            node = self.condition()
            where, floor = node.predicate, node.floor
        order = self.order_by() if self.word("ORDER") else ()
        limit = self.limit() if self.word("LIMIT") else None
        tok = self.peek()
        if tok is not None:
            raise self.unexpected(tok)
        return Query(self.sobject, fields, where, floor, order, limit)

    def field(self, tok: _Tok) -> str:
        if tok.kind != "word" or self.at("("):
            raise self.unexpected(tok)
        name = self.by_lower.get(tok.text.lower())
        if name is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"\n{self.soql}\nERROR at Row:1:Column:{tok.column}\nNo such column "
                f"'{tok.text}' on entity '{self.sobject}'. If you are attempting to use a "
                "custom field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
            )
        return name

    def condition(self) -> _Node:
        first = self.unary()
        joiner: str | None = None
        parts = [first]
        while self.word("AND", "OR"):
            word = self.take().text.upper()
            if joiner is not None and word != joiner:
                raise SoqlError(
                    "MALFORMED_QUERY", "unexpected token: mix of AND and OR needs parentheses"
                )
            joiner = word
            parts.append(self.unary())
        if joiner is None:
            return first
        return _Node.all_of(parts) if joiner == "AND" else _Node.any_of(parts)

    def unary(self) -> _Node:
        if self.word("NOT"):
            self.take()
            inner = self.unary()
            return _Node(lambda row: not inner.predicate(row), None)
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.take()
            node = self.condition()
            self.expect_punct(")")
            return node
        return self.comparison()

    def comparison(self) -> _Node:
        name = self.field(self.take())
        kind = self.types[name]
        if self.word("NOT", "IN"):
            negate = self.take().text.upper() == "NOT"
            if negate:
                self.expect_word("IN")
            values = self.literal_list(name, kind)
            inside = _in(name, kind, values)
            return _Node((lambda row: not inside(row)) if negate else inside, None)
        op = self.take()
        if op.kind != "op":
            raise self.unexpected(op)
        value = self.literal(name, kind)
        floor = None
        if name == "SystemModstamp" and op.text in (">", ">=", "=") and value is not None:
            floor = value
        return _Node(_compare(name, kind, op.text, value), floor)

    def literal_list(self, name: str, kind: str) -> list[Any]:
        self.expect_punct("(")
        values = [self.literal(name, kind)]
        while self.at(","):
            self.take()
            values.append(self.literal(name, kind))
        self.expect_punct(")")
        return values

    def literal(self, name: str, kind: str) -> Any:
        tok = self.take()
        if tok.kind == "word" and tok.text.upper() == "NULL":
            return None
        try:
            return _literal_value(tok, kind)
        except ValueError:
            raise SoqlError(
                "INVALID_FIELD",
                f"\n{self.soql}\nERROR at Row:1:Column:{tok.column}\nvalue of filter criterion "
                f"for field '{name}' must be of type {kind} and should "
                f"{'not ' if kind not in TEXT_TYPES | ID_TYPES else ''}be enclosed in quotes",
            ) from None

    def order_by(self) -> tuple[OrderKey, ...]:
        self.take()
        self.expect_word("BY")
        keys = [self.order_key()]
        while self.at(","):
            self.take()
            keys.append(self.order_key())
        return tuple(keys)

    def order_key(self) -> OrderKey:
        name = self.field(self.take())
        descending = False
        if self.word("ASC", "DESC"):
            descending = self.take().text.upper() == "DESC"
        nulls_last = descending  # SOQL: NULLS FIRST ascending, NULLS LAST descending
        if self.word("NULLS"):
            self.take()
            if not self.word("FIRST", "LAST"):
                raise self.unexpected(self.take())
            nulls_last = self.take().text.upper() == "LAST"
        return OrderKey(name, descending, nulls_last)

    def limit(self) -> int:
        self.take()
        tok = self.take()
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.unexpected(tok)
        return int(tok.text)


@dataclass(frozen=True)
class _Node:
    predicate: Predicate
    floor: datetime | None

    @staticmethod
    def all_of(parts: Sequence[_Node]) -> _Node:
        preds = [p.predicate for p in parts]
        floors = [p.floor for p in parts if p.floor is not None]
        return _Node(lambda row: all(p(row) for p in preds), max(floors) if floors else None)

    @staticmethod
    def any_of(parts: Sequence[_Node]) -> _Node:
        preds = [p.predicate for p in parts]
        floors = [p.floor for p in parts]
        bounded = all(f is not None for f in floors)
        floor = min(f for f in floors if f is not None) if bounded and floors else None
        return _Node(lambda row: any(p(row) for p in preds), floor)


def _literal_value(tok: _Tok, kind: str) -> Any:
    if kind in TEXT_TYPES or kind in ID_TYPES:
        if tok.kind != "string":
            raise ValueError
        text = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), tok.text[1:-1])
        return text[:15] if kind in ID_TYPES else text.casefold()
    if kind == "datetime" and tok.kind == "datetime":
        return datetime.fromisoformat(tok.text.replace("Z", "+00:00"))
    if kind == "date" and tok.kind == "date":
        return date.fromisoformat(tok.text)
    if kind == "boolean" and tok.kind == "word" and tok.text.upper() in ("TRUE", "FALSE"):
        return tok.text.upper() == "TRUE"
    if kind in ("currency", "double", "percent", "int", "long") and tok.kind == "number":
        return float(tok.text)
    raise ValueError


def _key(kind: str, value: Any) -> Any:
    """A row value in the form literals of its type compare against."""
    if value is None:
        return None
    if kind in ID_TYPES:
        return str(value)[:15]
    if kind in TEXT_TYPES:
        return str(value).casefold()
    return value


_OPS: Mapping[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _compare(name: str, kind: str, op: str, value: Any) -> Predicate:
    test = _OPS[op]
    if value is None:
        if op == "=":
            return lambda row: row.get(name) is None
        if op in ("!=", "<>"):
            return lambda row: row.get(name) is not None
        return lambda _row: False

    def predicate(row: Row) -> bool:
        got = _key(kind, row.get(name))
        if got is None:
            return op in ("!=", "<>")
        return test(got, value)

    return predicate


def _in(name: str, kind: str, values: list[Any]) -> Predicate:
    wanted = set(values)
    return lambda row: _key(kind, row.get(name)) in wanted


def parse(soql: str, schema: Mapping[str, Mapping[str, str]]) -> Query:
    """Parse ``soql`` against ``schema`` (object -> field -> type); raises SoqlError."""
    if not soql.strip():
        raise SoqlError("MALFORMED_QUERY", "the query is empty")
    return _Parser(soql, schema).query()


def sort_key(
    order: Sequence[OrderKey], types: Mapping[str, str]
) -> Callable[[Row], tuple[Any, ...]]:
    """A key ordering rows as ``order`` says (ties keep their order: sort is stable).

    Text sorts case-insensitively; ids by their case-sensitive 15-character form.
    """
    kinds = [types[k.field] for k in order]

    def key(row: Row) -> tuple[Any, ...]:
        parts: list[Any] = []
        for k, kind in zip(order, kinds, strict=True):
            value = _key(kind, row.get(k.field))
            null_rank = (1 if k.nulls_last else 0) if value is None else (0 if k.nulls_last else 1)
            parts.append((null_rank, _Desc(value) if k.descending else _Asc(value)))
        return tuple(parts)

    return key


class _Asc:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Asc) -> bool:
        if self.value is None or other.value is None:
            return False
        return bool(self.value < other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Asc) and self.value == other.value

    __hash__ = None  # type: ignore[assignment]


class _Desc(_Asc):
    def __lt__(self, other: _Asc) -> bool:
        if self.value is None or other.value is None:
            return False
        return bool(other.value < self.value)


__all__ = ["OrderKey", "Query", "SoqlError", "parse", "sort_key"]
