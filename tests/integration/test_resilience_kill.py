"""kill -9 during ingest: a real `ottc serve` on SQLite, three clients posting, the server
killed three times under them and restarted on the same state. Every acknowledged event is
stored exactly once, and so is its violation; the unanswered batches, posted again, add no
second copy. (The long run, 17 kills, is `ottc bench resilience`.)"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .killable_server import KillableServer, write_config
from .resilience_ingest import KIDS_EVERY, REGULATION, TENANT, ingest_through_kills

KILLS = 3


def test_acknowledged_events_are_stored_exactly_once_across_kill_9(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config", [REGULATION, TENANT])
    server = KillableServer(config, tmp_path / "state")
    with server:
        run = ingest_through_kills(server, kills=KILLS)
        assert server.starts == KILLS + 1

    # every batch was posted until answered, so everything sent was acknowledged ...
    assert len(run.acknowledged) == run.sent_events
    assert len(set(run.acknowledged)) == run.sent_events
    # ... and is stored once: nothing lost, no copy from a retried batch
    repeated = [i for i, n in Counter(run.stored).items() if n > 1]
    assert not repeated, f"stored twice: {repeated[:10]}"
    assert set(run.stored) == set(run.acknowledged)
    # the rule ran once per stored event, before or after a kill alike
    kids = {i for i in run.acknowledged if int(i.removeprefix("k-")) % KIDS_EVERY == 0}
    assert sorted(run.violations) == sorted(kids)
    assert run.failed_posts >= KILLS  # each kill left at least one client without an answer
