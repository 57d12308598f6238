"""Several lists in one query: a queryset's rows as a JSON array in a column of another query
(`JSONRows`), and model instances back from those rows (`instances`), on PostgreSQL and SQLite.

A page whose cards each read their own rows makes one round trip per card; with their lists as
columns of one row it makes one. The rows keep the queryset's order and LIMIT (the array is
built over the queryset as a subquery); values come back as JSON gives them (datetimes as text,
decimals as numbers), and `instances` turns them into what the model's fields read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.db import models
from django.db.models import F, QuerySet, Subquery
from django.utils.dateparse import parse_date, parse_datetime

M = TypeVar("M", bound=models.Model)

_PREFIX = "jr"
_PAIRS_PER_CALL = 40


class JSONRows(Subquery):
    """The rows of `queryset` as one JSON array of objects (an empty array without rows).

    `queryset` selects only named expressions (`values(name=...)` or `annotate` then
    `values(...)` of annotations); each becomes a key of the row's object. It may be correlated
    to the outer query (`OuterRef`), grouped, ordered and sliced.
    """

    def __init__(self, queryset: QuerySet[Any], keys: Iterable[str] | None = None) -> None:
        super().__init__(queryset, output_field=models.JSONField())
        if self.query.values_select:
            raise ValueError("JSONRows selects named expressions only (values(key=...))")
        aliases = list(self.query.annotation_select)
        self.keys = list(keys) if keys is not None else aliases
        if len(self.keys) != len(aliases) or not all(k.isidentifier() for k in self.keys):
            raise ValueError(f"JSONRows keys {self.keys!r} for columns {aliases!r}")

    def as_sql(
        self, compiler: Any, connection: Any, template: str | None = None, **extra_context: Any
    ) -> tuple[str, tuple[Any, ...]]:
        connection.ops.check_expression_support(self)
        subquery_sql, params = self.query.as_sql(compiler, connection)
        qn = connection.ops.quote_name
        nested = {
            alias
            for alias, expr in self.query.annotation_select.items()
            if isinstance(getattr(expr, "output_field", None), models.JSONField)
        }
        pairs = []
        for key, alias in zip(self.keys, self.query.annotation_select, strict=True):
            column = f"_jr.{qn(alias)}"
            if connection.vendor != "postgresql" and alias in nested:
                column = f"JSON({column})"  # SQLite: nested JSON, not a string holding it
            pairs.append(f"'{key}', {column}")
        # The keys are identifiers (checked above), the columns quoted aliases: no user text.
        # A function takes at most 100 arguments (PostgreSQL): wide rows are built in parts,
        # joined with || (PostgreSQL) or JSON_PATCH (SQLite, where a null drops its key: rows
        # are read with .get()).
        parts = [
            ", ".join(pairs[i : i + _PAIRS_PER_CALL]) for i in range(0, len(pairs), _PAIRS_PER_CALL)
        ]
        if connection.vendor == "postgresql":
            row = " || ".join(f"JSONB_BUILD_OBJECT({part})" for part in parts)
            array = f"COALESCE(JSONB_AGG({row}), '[]'::jsonb)"
        else:
            row = f"JSON_OBJECT({parts[0]})"
            for part in parts[1:]:
                row = f"JSON_PATCH({row}, JSON_OBJECT({part}))"
            array = f"JSON_GROUP_ARRAY({row})"
        return f"(SELECT {array} FROM {subquery_sql} _jr)", tuple(params)  # noqa: S608


def model_rows(
    queryset: QuerySet[Any],
    *,
    related: Mapping[str, type[models.Model]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONRows:
    """`queryset`'s rows with every concrete field of its model (and of each `related` one,
    keyed `<relation>__<field>`), for `instances`; `extra`: more named expressions."""
    columns: dict[str, Any] = {f.attname: F(f.attname) for f in _fields(queryset.model)}
    for relation, model in (related or {}).items():
        for f in _fields(model):
            columns[f"{relation}__{f.attname}"] = F(f"{relation}__{f.attname}")
    columns.update(extra or {})
    keys = list(columns)
    inner = queryset.values(**{f"{_PREFIX}{i}": expr for i, expr in enumerate(columns.values())})
    return JSONRows(inner, keys=keys)


def instances(
    model: type[M],
    rows: Any,
    *,
    related: Mapping[str, type[models.Model]] | None = None,
    using: str = "default",
) -> list[M]:
    """Model instances (as if read from the database) from `model_rows`' rows, with their
    `related` objects cached; each row's `extra` columns in the instance's `json_extra`."""
    if isinstance(rows, str):  # SQLite hands a nested array back as text
        rows = json.loads(rows)
    fields = _fields(model)
    names = [f.attname for f in fields]
    out = []
    for row in rows or ():
        obj = model.from_db(using, names, [_value(f, row.get(f.attname)) for f in fields])
        for relation, rel_model in (related or {}).items():
            rel_fields = _fields(rel_model)
            values = [_value(f, row.get(f"{relation}__{f.attname}")) for f in rel_fields]
            rel_obj = (
                None
                if values[0] is None  # the primary key: no related row
                else rel_model.from_db(using, [f.attname for f in rel_fields], values)
            )
            setattr(obj, relation, rel_obj)
        obj.json_extra = {  # type: ignore[attr-defined]
            key: value for key, value in row.items() if key not in names and "__" not in key
        }
        out.append(obj)
    return out


def _fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    fields = list(model._meta.concrete_fields)
    pk = model._meta.pk
    return sorted(fields, key=lambda f: f is not pk)  # the primary key first


def _value(field: models.Field[Any, Any], value: Any) -> Any:
    """What the field reads from the database, from the JSON of its column."""
    if value is None:
        return None
    if isinstance(field, models.DateTimeField):
        parsed = parse_datetime(value) if isinstance(value, str) else value
        if parsed is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)  # SQLite keeps UTC without an offset
        return parsed
    if isinstance(field, models.DateField):
        return parse_date(value) if isinstance(value, str) else value
    if isinstance(field, models.DecimalField):
        places = Decimal(1).scaleb(-(field.decimal_places or 0))
        return Decimal(str(value)).quantize(places)
    if isinstance(field, models.JSONField):
        return value  # nested as JSON by both databases (JSONRows wraps it on SQLite)
    if isinstance(field, models.BooleanField):
        return bool(value)
    if isinstance(field, models.UUIDField):
        return field.to_python(value)
    if isinstance(field, models.FloatField):
        return float(value)
    return value


def as_datetime(value: Any) -> datetime | None:
    """A datetime from a JSON row's text (aware, in UTC when the database gave no offset)."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = parse_datetime(value)
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
