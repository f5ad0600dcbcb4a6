"""The compiled read path: a query answered without graphql-core's per-field machinery.

`plan` turns a validated query document into a tree of fields (cached per document and
operation name) when every selection is a plain field of an object type. Two lanes
answer a plan, the first that can:

- the native lane (`native`, `rows`, `sources`; SQL in app.storage.queries.compiled)
  when every field is a column, an embedded object or a relation it knows (the
  dashboard's shape): one statement per level selecting only the columns the document
  reads, leaves read from rows by position, no resolver and no Strawberry object;
- the resolvers' lane (`run`): one level at a time over all the level's objects, leaves
  read and serialized in plain loops, relations through the fields' own resolvers, so
  the loaders batch each level into one statement.

Both book due events (catch-up), scope a portal token's reads and check arguments as
the loaders do. What has no plan, or fails in both lanes, goes the normal way, which
then answers (errors included) as it always did.
"""

from app.api.compiled.run import answer

__all__ = ["answer"]
