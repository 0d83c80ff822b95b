"""Status writes as small transactions under an optimistic lock.

Several writers share a status: a tenant's reconcile, its usage timer and kopf's own
bookkeeping all change the object. A blind merge patch computed from an old read would write
over what another writer changed since. So every writer here hands ``patch_status`` a
transaction: a function from the object as read to the status fields it wants (None: nothing
to write). The patch carries the ``resourceVersion`` that was read; when the API server
answers 409 Conflict, the object is read again and the transaction recomputed from the fresh
copy, a few times with a growing pause (the model is CloudNativePG's
``PatchWithOptimisticLock`` over client-go's ``RetryOnConflict``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ott_operator.kube import CustomResource, KubeAPI, StatusConflict, get_custom

Transaction = Callable[[Mapping[str, Any]], Mapping[str, Any] | None]

ATTEMPTS = 5
FIRST_PAUSE = 0.01  # seconds; times 5 after each conflict (client-go's default backoff)


def patch_status(
    kube: KubeAPI,
    resource: CustomResource,
    name: str,
    transaction: Transaction,
    *,
    read: Mapping[str, Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Apply ``transaction`` to the status of ``name``; True if a patch was written.

    ``read``: the object as the caller already read it (saves the first GET). The object
    being gone ends it quietly: there is no status left to write. A conflict on the last
    attempt propagates (kopf retries the handler later).
    """
    body = read if read is not None else get_custom(kube, resource, name)
    pause = FIRST_PAUSE
    for _ in range(ATTEMPTS - 1):
        try:
            return _attempt(kube, resource, name, transaction, body)
        except StatusConflict:
            sleep(pause)
            pause *= 5
            body = get_custom(kube, resource, name)
    return _attempt(kube, resource, name, transaction, body)


def _attempt(
    kube: KubeAPI,
    resource: CustomResource,
    name: str,
    transaction: Transaction,
    body: Mapping[str, Any] | None,
) -> bool:
    status = transaction(body) if body is not None else None
    if body is None or status is None:
        return False
    version = str(body["metadata"]["resourceVersion"])
    kube.patch_status(resource, name, status, resource_version=version)
    return True
