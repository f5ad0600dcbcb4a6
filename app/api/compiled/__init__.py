"""The compiled read path: a query answered without graphql-core's per-field machinery.

`plan` turns a validated query document into a tree of fields (cached per document and
operation name) when every selection is a plain field of an object type; `run` walks
that tree one level at a time over all the level's objects: leaves are read and
serialized in plain loops, relations call the fields' own resolvers, so the loaders
batch each level into one statement and apply catch-up and portal-token scoping exactly
as in normal execution. What has no plan, or fails while running, goes the normal way,
which then answers (errors included) as it always did.
"""

from app.api.compiled.run import answer

__all__ = ["answer"]
