"""Keeping a tenant's aggregate windows equal to what is committed.

The windows are fed before the batch's transaction (rules read them) and journalled
(``AggregateWindows.begin``). After a failure the pipeline undoes the batch from that
journal (:func:`undo`), in time proportional to the batch: a failed batch never replays
stored history. When the commit itself failed its outcome is unknown; :func:`settle`
then looks the batch's ids up, at once or before the tenant's next batch, and keeps or
undoes it. :func:`rebuild` replays the windows from storage, only at start and after a
reload (new rules, empty windows).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from ott_runtime.ingest.tenants import AggregateWindows, TenantRuntime
from ott_runtime.storage import Store, TenantScope

log = logging.getLogger(__name__)
REPLAY_MAX = 200_000  # the windows themselves hold at most this many entries


async def rebuild(store: Store, runtime: TenantRuntime, now: datetime | None = None) -> int:
    """Fresh windows replayed from the stored events of the longest window; returns the
    number of events replayed."""
    if runtime.windows_factory is None or runtime.longest_window is None:
        return 0
    runtime.windows, runtime.windows_stale = runtime.windows_factory(), False
    runtime.windows_in_doubt = None  # the replay reads what was committed
    since = (now or datetime.now(UTC)) - runtime.longest_window
    async with store.read(TenantScope(runtime.name)) as data:
        rows = await data.events.latest_since(since, REPLAY_MAX)
    cipher = runtime.cipher
    for row in rows:
        opened = cipher.decrypt_document(row.payload, row.event_id)
        runtime.windows.observe(opened.document)  # a field that fails to verify is absent
    log.info("%s: aggregate windows rebuilt from %d stored events", runtime.name, len(rows))
    return len(rows)


def undo(runtime: TenantRuntime, windows: AggregateWindows) -> None:
    """Rolls back what the failed batch fed into ``windows``."""
    try:
        windows.rollback()
    except Exception:  # a bug in the journal: replay before the next batch rather than serve it
        runtime.windows_stale = True
        log.exception("%s: aggregate windows not rolled back; replaying them", runtime.name)


async def settle(store: Store, runtime: TenantRuntime) -> None:
    """Keeps or undoes the windows of a batch whose commit failed, by whether its events
    are stored; raises (still in doubt) if the database cannot say."""
    pending = runtime.windows_in_doubt
    if pending is None:
        return
    async with store.read(TenantScope(runtime.name)) as data:
        stored = await data.events.existing_ids(list(pending.event_ids))
    runtime.windows_in_doubt = None
    if pending.windows is not runtime.windows:
        return  # replaced since: those windows are not served any more
    if stored:  # one transaction: some stored means all
        pending.windows.commit()
    else:
        undo(runtime, pending.windows)
    log.info(
        "%s: a batch whose commit failed was %s stored; its window changes were %s",
        runtime.name,
        "" if stored else "not",
        "kept" if stored else "rolled back",
    )
