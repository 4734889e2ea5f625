"""Test-only adapter: mongomock 4.3 does not know the `sort` argument pymongo >= 4.11 passes to
bulk updates (it is always None for the updates we issue). We accept and drop it when it is
None, so the MongoDB contract suite runs against mongomock with a current pymongo. The product
code is untouched and a real server (GRADVY_TEST_MONGO_URL) runs the same suite unpatched."""

from __future__ import annotations

from typing import Any

import mongomock.collection as _collection

_original: Any = _collection.BulkOperationBuilder.add_update


def _add_update(self: Any, *args: Any, sort: Any = None, **kwargs: Any) -> Any:
    if sort is not None:
        raise NotImplementedError("mongomock cannot sort bulk updates")
    return _original(self, *args, **kwargs)


_collection.BulkOperationBuilder.add_update = _add_update  # type: ignore[method-assign]
