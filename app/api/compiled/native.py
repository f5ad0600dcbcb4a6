"""The native lane: a plan whose every field is a column, an embedded object or a relation
of `sources` is answered from rows, with no resolver and no Strawberry object per row.

`native_of` compiles a plan once (None when a field is not covered); `Run` answers it:
one statement per relation level over every parent of the level, each row's leaves read
by position and serialized by the plan's serializers. Each row type selects, across the
document, the union of the columns its fields read, so a grant or customer read at one
level answers any later reference to it without a statement (as the loaders' known
objects do).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any

from graphql import GraphQLOutputType, get_argument_values, is_list_type, is_non_null_type
from strawberry.types.arguments import convert_arguments

from app.api.catch_up import Due
from app.api.compiled.plan import DEFINITION, Fallback, FieldPlan, ObjectPlan, OperationPlan
from app.api.compiled.rows import ROW_TYPES, Env, Leaf, TextMaker
from app.api.compiled.sources import SOURCES, Paged, Source, unfiltered
from app.api.pagination import page_of
from app.api.snapshot import Snapshot
from app.storage.engine import read_connection
from app.storage.queries.compiled import ORDERS
from app.storage.queries.pages import Ordering, Page

Finish = Callable[[Any], Any]
TRIES = 3  # answers of a plan whose reads find events due (each books them first)


class NotNative(Exception):
    pass


@dataclass(frozen=True)
class Value:
    key: str
    leaf: Leaf | None  # a row type's reader; None: the object's attribute
    attribute: str | None
    finish: Finish  # the plan's serializer, or an embedded object's builder
    text: TextMaker | None = None  # the leaf read and serialized in one call, when it can be


@dataclass(frozen=True)
class Constant:
    key: str
    value: str


@dataclass(frozen=True)
class Connection:
    fields: tuple[tuple[str, str, Any], ...]  # (key, "typename"/"edges"/"pageInfo", detail)
    cursors: bool  # whether an edge's cursor or the page's start or end cursor is selected
    counts: bool  # whether totalCount is selected


@dataclass(frozen=True)
class Relation:
    key: str
    field: FieldPlan
    source: Source
    child: Node
    connection: Connection | None
    required: bool


@dataclass(frozen=True)
class Node:
    type: str
    rows: bool  # a row type's rows; else Python objects read by attribute
    fields: tuple[Value | Constant | Relation, ...]


@dataclass(frozen=True)
class NativePlan:
    root: Node
    columns: dict[str, tuple[str, ...]]
    scaled: frozenset[str]  # the row types with amounts: their currencies' scales are read


def native_of(plan: OperationPlan) -> NativePlan | None:
    try:
        root = _node(plan.root, rows=True)
    except NotNative:
        return None
    columns: dict[str, set[str]] = {}
    scaled: set[str] = set()
    _collect(root, columns, scaled)
    names = {kind: tuple(sorted(found)) for kind, found in columns.items()}
    return NativePlan(root, names, frozenset(scaled))


def _collect(node: Node, columns: dict[str, set[str]], scaled: set[str]) -> None:
    if node.type in ROW_TYPES:
        found = columns.setdefault(node.type, set(ROW_TYPES[node.type].always))
        for field in node.fields:
            if isinstance(field, Value) and field.leaf is not None:
                found.update(field.leaf.columns)
                if field.leaf.scaled:
                    scaled.add(node.type)
    for field in node.fields:
        if isinstance(field, Relation):
            if field.source.column is not None:
                columns[node.type].add(field.source.column)
            _collect(field.child, columns, scaled)


def _node(plan: ObjectPlan, rows: bool) -> Node:
    kind = plan.type.name
    fields: list[Value | Constant | Relation] = []
    for field in plan.fields:
        name = field.node.name.value
        source = SOURCES.get((kind, name)) if rows else None
        if field.definition is None:
            fields.append(Constant(field.key, kind))
        elif source is not None:
            fields.append(_relation(field, source))
        elif rows and kind != "Query":
            leaf = ROW_TYPES[kind].leaves.get(name) if kind in ROW_TYPES else None
            if leaf is None:
                raise NotNative
            fields.append(Value(field.key, leaf, None, _finish(field), _text(leaf, field)))
        elif not rows and field.attribute is not None:
            fields.append(Value(field.key, None, field.attribute, _finish(field)))
        else:
            raise NotNative
    return Node(kind, rows, tuple(fields))


def _text(leaf: Leaf, field: FieldPlan) -> TextMaker | None:
    """The leaf's one-call reader, when the field is of a scalar it serializes (not a list)."""
    assert field.definition is not None
    kind = field.definition.type
    kind = kind.of_type if is_non_null_type(kind) else kind
    return leaf.text if getattr(kind, "name", None) in leaf.text_of else None


def _finish(field: FieldPlan) -> Finish:
    if field.leaf is not None:
        return field.leaf
    assert field.definition is not None and field.selection is not None
    build = _embedded(_node(field.selection, rows=False))
    return _shaped(field.definition.type, build)


def _embedded(node: Node) -> Finish:
    """An object built from its attributes (labels, an actor, a purchase)."""
    parts = [(f.key, _part(f)) for f in node.fields if not isinstance(f, Relation)]

    def build(value: Any) -> dict[str, Any]:
        return {key: part(value) for key, part in parts}

    return build


def _part(field: Value | Constant) -> Finish:
    if isinstance(field, Constant):
        constant = field.value
        return lambda value: constant
    name, finish = field.attribute, field.finish
    assert name is not None
    return lambda value: finish(getattr(value, name))


def _shaped(kind: GraphQLOutputType, build: Finish) -> Finish:
    """Nulls and lists around an embedded object as graphql-core completes them."""
    if is_non_null_type(kind):
        inner = _shaped(kind.of_type, build)

        def required(value: Any) -> Any:
            if value is None:
                raise Fallback
            return inner(value)

        return required
    if is_list_type(kind):
        item = _shaped(kind.of_type, build)
        return lambda value: None if value is None else [item(v) for v in value]
    return lambda value: None if value is None else build(value)


def _relation(field: FieldPlan, source: Source) -> Relation:
    assert field.definition is not None and field.selection is not None
    required = is_non_null_type(field.definition.type)
    if source.shape != "connection":
        child = _node(field.selection, rows=source.child in ROW_TYPES)
        if child.type != source.child:
            raise NotNative
        return Relation(field.key, field, source, child, None, required)
    connection, found = _connection(field.selection, source.count is not None)
    child = Node(source.child, True, ()) if found is None else found
    if child.type != source.child:
        raise NotNative
    return Relation(field.key, field, source, child, connection, required)


PAGE_INFO = {"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"}


def _connection(plan: ObjectPlan, counted: bool) -> tuple[Connection, Node | None]:
    fields: list[tuple[str, str, Any]] = []
    child: Node | None = None
    for field in plan.fields:
        name = field.node.name.value
        if field.definition is None:
            fields.append((field.key, "typename", plan.type.name))
        elif name == "pageInfo" and field.selection is not None:
            info = [(f.key, f.node.name.value, f.selection) for f in field.selection.fields]
            if any(n not in PAGE_INFO | {"__typename"} for _, n, _ in info):
                raise NotNative
            typename = field.selection.type.name
            fields.append((field.key, "pageInfo", tuple((k, n, typename) for k, n, _ in info)))
        elif name == "edges" and field.selection is not None and child is None:
            edge, child = _edge(field.selection)
            fields.append((field.key, "edges", edge))
        elif name == "totalCount" and counted:
            fields.append((field.key, "count", None))
        else:
            raise NotNative  # totalCount where none is counted, or edges twice
    cursors = any(
        (kind == "edges" and any(part[1] == "cursor" for part in detail))
        or (kind == "pageInfo" and any(n in ("startCursor", "endCursor") for _, n, _ in detail))
        for _, kind, detail in fields
    )
    counts = any(kind == "count" for _, kind, _ in fields)
    return Connection(tuple(fields), cursors, counts), child


def _edge(plan: ObjectPlan) -> tuple[tuple[tuple[str, str, str], ...], Node | None]:
    parts: list[tuple[str, str, str]] = []
    child: Node | None = None
    for field in plan.fields:
        name = field.node.name.value
        if field.definition is None:
            parts.append((field.key, "typename", plan.type.name))
        elif name == "cursor":
            parts.append((field.key, "cursor", ""))
        elif name == "node" and field.selection is not None and child is None:
            child = _node(field.selection, rows=True)
            parts.append((field.key, "node", ""))
        else:
            raise NotNative
    return tuple(parts), child


class Run:
    """One request's answer to a native plan."""

    def __init__(self, plan: NativePlan, variables: Any, context: Any, converter: Any) -> None:
        self.plan = plan
        self.variables = variables
        self.converter = converter
        self.loaders = loaders = context.loaders
        self.engine = loaders.runtime.engine
        self.dialect = self.engine.dialect.name
        self.now = loaders.now
        self.env = Env(loaders.now)
        self.columns = plan.columns
        self.positions = {
            kind: {name: i for i, name in enumerate(names)} for kind, names in plan.columns.items()
        }
        self.tables = {kind: row_type.table for kind, row_type in ROW_TYPES.items()}
        self.known: dict[str, dict[str, Any]] = {"Customer": {}, "CreditGrant": {}}
        self.converted: dict[int, dict[str, Any]] = {}  # each relation's arguments
        self.snapshot: Snapshot  # the read transaction of `answer`'s current try

    async def answer(self, root_value: Any) -> dict[str, Any]:
        """The plan's answer, read in one transaction. When catch-up finds events due in
        it, they are booked after it and the plan is answered anew in another (a page
        may then name customers not checked yet: a few tries, then the resolvers' lane)."""
        self.checked(self.plan.root)
        catch_up = self.loaders.catch_up
        for _ in range(TRIES):
            self.known = {"Customer": {}, "CreditGrant": {}}
            try:
                async with read_connection(self.engine) as connection:
                    self.snapshot = catch_up.snapshot = Snapshot(connection)
                    try:
                        [data] = await self.level(self.plan.root, [root_value])
                    finally:
                        await catch_up.settled()
                        catch_up.snapshot = None
                return data
            except Due:
                pass
            finally:  # whatever this try found due, even if it failed otherwise
                if catch_up.deferred:
                    await catch_up.book_deferred()
        raise Fallback

    def checked(self, node: Node) -> None:
        """Before any statement: every relation's arguments converted, and those the lane
        does not answer (a filter, an order, a page the loaders refuse) raised, so that
        the resolvers' lane does not find half the work done already."""
        for field in node.fields:
            if isinstance(field, Relation):
                kw = self.arguments(field.field)
                unfiltered(kw, *field.source.unsupported)
                if field.source.order is not None:
                    self.page(ORDERS[field.source.order], kw)
                self.checked(field.child)

    @property
    def scope(self) -> str | None:
        """A portal token's customer: every read answers as if only it existed."""
        scope: str | None = self.loaders.scope
        return scope

    def scope_on(self, column: str) -> str | None:
        """The column a statement matches with the scope, when there is one."""
        return None if self.scope is None else column

    def page(self, order: Ordering, kw: dict[str, Any]) -> Page:
        """The paging arguments checked as the loaders check them."""
        settings = self.loaders.settings
        return page_of(
            order,
            kw.get("first"),
            kw.get("after"),
            kw.get("last"),
            kw.get("before"),
            default=settings.default_page_size,
            maximum=settings.max_page_size,
        )

    def ids(self, kind: str, rows: list[Any], name: str = "id") -> list[Any]:
        """Each row's `name` column, read by position: a Row's attribute costs about 8
        times its index (5,000 rows: 9 ms against 1.2 ms, on a loaded machine)."""
        return list(map(itemgetter(self.positions[kind][name]), rows))

    async def rows(self, statement: Any, parameters: dict[str, Any]) -> list[Any]:
        return await self.snapshot.rows(statement, parameters)

    def arguments(self, field: FieldPlan) -> dict[str, Any]:
        found = self.converted.get(id(field))
        if found is None:
            found = self.converted[id(field)] = self.convert(field)
        return found

    def convert(self, field: FieldPlan) -> dict[str, Any]:
        assert field.definition is not None
        raw = get_argument_values(field.definition, field.node, self.variables)
        strawberry_field = field.definition.extensions[DEFINITION]
        config = self.converter.config
        registry = self.converter.scalar_registry
        return convert_arguments(
            raw, strawberry_field.arguments, scalar_registry=registry, config=config
        )

    async def level(self, node: Node, items: list[Any]) -> list[dict[str, Any]]:
        """Each item's answer: its leaves read column by column, then its relations, one
        statement for the whole level each."""
        if node.rows and node.type in ROW_TYPES:
            await self.noted(node.type, items)
        columns: list[list[Any]] = []
        for field in node.fields:
            if isinstance(field, Value):
                columns.append(list(map(self.cell(node, field), items)))
            else:  # a relation's place, filled below
                columns.append([field.value if isinstance(field, Constant) else None] * len(items))
        keys = [field.key for field in node.fields]
        results = [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]
        if not columns:
            results = [{} for _ in items]
        relations = [
            self.relation(field, items, results)
            for field in node.fields
            if isinstance(field, Relation)
        ]
        outcomes = await asyncio.gather(*relations, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return results

    def cell(self, node: Node, field: Value) -> Callable[[Any], Any]:
        """An item's serialized value of the field, read and serialized in one call."""
        finish = field.finish
        if field.leaf is None:
            name = field.attribute
            assert name is not None
            return lambda item: finish(getattr(item, name))
        at = self.positions[node.type].__getitem__
        if field.text is not None:
            return field.text(at, self.env, finish)
        read = field.leaf.make(at, self.env)
        return lambda item: finish(read(item))

    async def noted(self, kind: str, rows: list[Any]) -> None:
        """Rows this request knows from now on, and the scales their amounts need."""
        positions = self.positions[kind]
        known = self.known.get(kind)
        if known is not None:
            index = positions["id"]
            known.update(zip([row[index] for row in rows], rows, strict=True))
        if kind not in self.plan.scaled:
            return
        codes: set[str] = set()
        for name in ("currency", "purchase_currency"):
            if name in positions:
                index = positions[name]
                codes |= {row[index] for row in rows if row[index] is not None}
        if codes - self.env.scales.keys():
            self.env.scales.update(await self.scales(codes))

    async def scales(self, codes: set[str]) -> dict[str, int]:
        """Their scales (a unit new to the catalog is read in this transaction: a read of
        its own would wait for a connection, or a read gate's place, this one holds)."""
        async with self.snapshot.turn() as connection:
            found = await self.loaders.runtime.catalog.get_many(codes, connection)
        return {code: currency.scale for code, currency in found.items()}

    async def relation(
        self, field: Relation, parents: list[Any], results: list[dict[str, Any]]
    ) -> None:
        connection = field.connection
        cursors = connection is not None and connection.cursors
        values = await field.source.fetch(self, parents, self.arguments(field.field), cursors)
        if connection is not None and connection.counts:
            assert field.source.count is not None
            totals = await field.source.count(self, parents)
            values = [
                replace(paged, total=total) for paged, total in zip(values, totals, strict=True)
            ]
        if connection is not None:
            items = [row for paged in values for row in paged.rows]
        elif field.source.shape == "list":
            items = [item for value in values if value is not None for item in value]
        else:
            await self.objects(field, values, results)
            return
        built = iter(await self.level(field.child, items) if items else [])
        key = field.key
        for result, value in zip(results, values, strict=True):
            if connection is not None:
                result[key] = _connection_value(connection, value, built)
            elif value is None:
                if field.required:
                    raise Fallback
                result[key] = None
            else:
                result[key] = [next(built) for _ in value]

    async def objects(
        self, field: Relation, values: list[Any], results: list[dict[str, Any]]
    ) -> None:
        """One object per parent: each distinct object answered once and its answer shared
        by every parent naming it (a page of 5,000 entries names 500 grants)."""
        distinct = list({id(value): value for value in values if value is not None}.values())
        answers = await self.level(field.child, distinct) if distinct else []
        answer_of = dict(zip(map(id, distinct), answers, strict=True))
        key = field.key
        for result, value in zip(results, values, strict=True):
            if value is None:
                if field.required:
                    raise Fallback
                result[key] = None
            else:
                result[key] = answer_of[id(value)]


def _connection_value(connection: Connection, paged: Paged, built: Any) -> dict[str, Any]:
    rows = paged.rows
    nodes = [next(built) for _ in rows]
    answer: dict[str, Any] = {}
    for key, kind, detail in connection.fields:
        if kind == "typename":
            answer[key] = detail
        elif kind == "edges":
            answer[key] = _edges(detail, paged, rows, nodes)
        elif kind == "count":
            answer[key] = paged.total
        else:
            answer[key] = _page_info(detail, paged, rows)
    return answer


def _edges(
    parts: tuple[tuple[str, str, str], ...], paged: Paged, rows: list[Any], nodes: list[Any]
) -> list[dict[str, Any]]:
    if len(parts) == 1 and parts[0][1] == "node":
        key = parts[0][0]
        return [{key: node} for node in nodes]
    edges = []
    for row, node in zip(rows, nodes, strict=True):
        edge: dict[str, Any] = {}
        for key, kind, typename in parts:
            edge[key] = node if kind == "node" else typename if kind == "typename" else None
            if kind == "cursor":
                edge[key] = paged.cursor(row)
        edges.append(edge)
    return edges


def _page_info(
    parts: tuple[tuple[str, str, str], ...], paged: Paged, rows: list[Any]
) -> dict[str, Any]:
    values = {
        "__typename": parts[0][2] if parts else "PageInfo",
        "hasNextPage": paged.has_next,
        "hasPreviousPage": paged.has_previous,
        "startCursor": paged.cursor(rows[0]) if rows else None,
        "endCursor": paged.cursor(rows[-1]) if rows else None,
    }
    return {key: values[name] for key, name, _ in parts}
