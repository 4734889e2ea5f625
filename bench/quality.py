"""The data-quality assessment's speed on the embedded default: a first run over a store of
1,000,000 events (10,000 learners, 60 days), then an incremental run after 10,000 new events.
Targets: under 30 s and under 2 s.

    python bench/quality.py [--events N] [--users N] [--new N]

The store is filled directly through the ingestion transaction (events and the learners'
profiles, as the ingestor writes them), not through the normaliser: that is measured by
bench/ingest.py."""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradvy_console.analytics.events import Event
from gradvy_console.analytics.scoring import accumulate
from gradvy_console.clock import now_ms
from gradvy_console.config import Config
from gradvy_console.quality import run_assessment
from gradvy_console.store.sqlite import SqliteStore

DAY = 86_400_000
TYPES = ("course_interaction", "learning_session", "quiz_attempt", "search", "button_click",
         "link_click", "form_submit")


def make_events(rng: random.Random, start: int, n: int, users: int, span_ms: int, end: int
                ) -> list[Event]:
    out = []
    for i in range(start, start + n):
        etype = TYPES[rng.randrange(len(TYPES))]
        ts = end - rng.randrange(span_ms)
        user = f"u{rng.randrange(users):05d}"
        if etype == "quiz_attempt":
            props: dict[str, object] = {"course_id": f"c{rng.randrange(120):04d}",
                                        "score": 3, "total_questions": 5, "time_taken": 40.0}
        elif etype == "search":
            props = {"query": "python basics", "results_count": 4}
        elif etype == "learning_session":
            props = {"course_id": f"c{rng.randrange(120):04d}", "duration": 600.0,
                     "completion_rate": 0.5}
        elif etype == "course_interaction":
            props = {"course_id": f"c{rng.randrange(120):04d}", "action": "view",
                     "duration": 30}
        else:
            props = {"element_id": f"b-{rng.randrange(25)}", "page_url": "/courses"}
        out.append(Event(f"e{i:08d}", user, etype, ts, f"{user}-s{ts // 1_800_000}", props,
                         f"h{i}", received_ms=ts + 5_000))
    return out


def fill(store: SqliteStore, events: list[Event], config: Config) -> None:
    for start in range(0, len(events), 50_000):
        chunk = events[start:start + 50_000]
        with store.transaction() as tx:
            tx.insert_events(chunk, {})
            tx.apply_profile_deltas(accumulate(chunk, config.scoring), now_ms())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(1)
    end = now_ms()
    config = Config()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "store.db")
        for user in range(args.users):
            store.record_consent(f"u{user:05d}", {"analytics": True,
                                                  "behavioral_analysis": True},
                                 method="bench", version="1", legal_basis="consent",
                                 actor="bench", at_ms=end - 61 * DAY)
        print(f"filling a store with {args.events:,} events of {args.users:,} learners...",
              file=sys.stderr)
        fill(store, make_events(rng, 0, args.events, args.users, 60 * DAY, end), config)
        started = time.perf_counter()
        first = run_assessment(config, store)
        first_s = time.perf_counter() - started
        fill(store, make_events(rng, args.events, args.new, args.users, DAY, now_ms()), config)
        started = time.perf_counter()
        again = run_assessment(config, store)
        again_s = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        store.close()
    print(f"\ndata-quality assessment (embedded SQLite, {args.users:,} learners)")
    print(f"{'':44}{'figure':>14}  target")
    print(f"{f'first run over {args.events:,} events':44}{first_s:>12.1f} s  < 30 s "
          f"(read {first.scanned:,}, score {first.score})")
    print(f"{f'incremental run after {args.new:,} new events':44}{again_s:>12.2f} s  < 2 s "
          f"(read {again.scanned - first.scanned:,})")
    print(f"{'peak memory of this process':44}{peak_mb:>10,.0f} MiB")


if __name__ == "__main__":
    main()
