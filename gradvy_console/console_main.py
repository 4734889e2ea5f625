"""`gradvy-console`: the Textual operations console (issue 5, not built yet)."""

from __future__ import annotations

import sys


def main() -> None:
    sys.stderr.write(
        "gradvy-console: the Textual console is not built yet. Use the headless verbs meanwhile:"
        " 'gradvy run status', 'gradvy run simulate-data', 'gradvy run process-events'.\n")
    sys.exit(1)
