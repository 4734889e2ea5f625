"""The worker pool: one queue's consumer with its heartbeat (`worker`), the task-run history
recorded from Huey's signals (`run_history`), the supervisor that runs one consumer per queue
(`supervisor`) and controlling a pool from outside it (`control`)."""

from __future__ import annotations
