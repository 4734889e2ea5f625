"""The data dir as a store of its own: worker logs, exports and reports name learners too, and
the verification of an erasure reads every byte of every file (databases, their write-ahead
logs and free pages, compressed model arrays) for what is left.
"""

from __future__ import annotations

import gzip
import mmap
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ..analytics.privacy import Terms
from ..store.sqlite import rebuild_pages, truncate_wal


def data_files(root: Path) -> Iterator[Path]:
    """Every regular file under `root` (symbolic links are not followed)."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                yield path


def _contents(path: Path) -> Iterator[bytes | mmap.mmap]:
    """The bytes of a file, and of what a compressed file holds."""
    if path.suffix == ".gz":
        try:
            yield gzip.decompress(path.read_bytes())
        except (OSError, EOFError):
            pass
    if path.suffix in (".npz", ".zip"):
        try:
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    yield archive.read(member)
        except (OSError, zipfile.BadZipFile):
            pass
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb") as handle:
        if size < 1 << 20:
            yield handle.read()
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            yield view


def _unexplained(data: bytes | mmap.mmap, raw: re.Pattern[bytes], longer: list[bytes],
                 ambiguous: set[bytes]) -> list[int]:
    """Offsets of the terms in raw bytes that are not part of another learner's id: inside a
    longer id ("u0004" in a record of "u00042"), or readable as a shorter id followed by the
    next field's bytes ("alice12" in "alice1" + "2026-12-01": a word that contains another
    learner's id is `ambiguous` and proven absent by the structured search alone)."""
    offsets: list[int] = []
    for match in raw.finditer(data):
        start, word = match.start(), match.group()
        if word in ambiguous:
            continue
        explained = False
        for other in longer:
            at = other.find(word)
            while at >= 0 and not explained:
                begin = start - at
                if begin >= 0 and data[begin:begin + len(other)] == other:
                    explained = True
                at = other.find(word, at + 1)
            if explained:
                break
        if not explained:
            offsets.append(start)
    return offsets


def scan_files(root: Path, terms: Terms, known_ids: Callable[[], set[str]],
               skip: Callable[[Path], bool] | None = None) -> dict[str, list[int]]:
    """Files under `root` whose bytes still hold one of the terms: {relative path: offsets}
    (offsets into the file itself; -1 for what a compressed file holds). `known_ids` gives
    the other learners' ids (asked only when a raw occurrence is found)."""
    found: dict[str, list[int]] = {}
    if terms.raw is None:
        return found     # too short to search bytes for: the structured search decides
    raw = terms.raw
    longer: list[bytes] | None = None
    ambiguous: set[bytes] = set()
    for path in data_files(root):
        if skip is not None and skip(path):
            continue
        for data in _contents(path):
            if raw.search(data) is None:
                continue
            own = isinstance(data, mmap.mmap) or len(data) == path.stat().st_size
            if longer is None:
                words = set(terms.words)
                others = {i.encode("utf-8", "surrogatepass") for i in known_ids()} - words
                longer = sorted((o for o in others if any(w in o for w in words)), key=len,
                                reverse=True)
                ambiguous = {w for w in words if any(o in w for o in others)}
            offsets = _unexplained(data, raw, longer, ambiguous)
            if offsets:
                rel = str(path.relative_to(root))
                found.setdefault(rel, []).extend(offsets if own else [-1] * len(offsets))
    return found


def scrub_residue(root: Path, found: dict[str, list[int]]) -> list[str]:
    """SQLite leaves copies of moved cells in the unused space of b-tree pages it rebalanced
    (its secure_delete zeroes deleted cells, not those stale copies). For each database where
    the search found such residue, rebuild the b-trees that own those pages; returns what was
    rebuilt."""
    done: list[str] = []
    for rel, offsets in found.items():
        path = root / rel
        if path.name.endswith(".db") and all(o >= 0 for o in offsets):
            done += [f"{rel}: {what}" for what in rebuild_pages(path, offsets)]
    return done


def checkpoint_databases(root: Path) -> None:
    """Checkpoint every SQLite database under `root` and empty its write-ahead log: old page
    images of deleted rows live on in a -wal file until then."""
    for path in data_files(root):
        if path.name.endswith(".db") and path.with_name(path.name + "-wal").exists():
            truncate_wal(path)


def scrub_logs(log_dir: Path, terms: Terms, replacement: str) -> int:
    """Replace the terms in every log file (and its rotated copies) in place; returns the
    lines changed. Writers append (O_APPEND), so rewriting from the start and truncating keeps
    their descriptors valid; a line appended during the rewrite may be lost."""
    changed = 0
    if not log_dir.is_dir():
        return 0
    for path in sorted(log_dir.iterdir()):
        if not path.is_file() or ".log" not in path.name:
            continue
        data = path.read_bytes()
        if not terms.in_bytes(data):
            continue
        lines = data.split(b"\n")
        out = []
        for line in lines:
            if terms.in_bytes(line):
                line = terms.token.sub(replacement.encode(), line)
                changed += 1
            out.append(line)
        new = b"\n".join(out)
        with open(path, "r+b") as handle:
            handle.write(new)
            handle.truncate(len(new))
    return changed


def erase_files(folder: Path, terms: Terms) -> int:
    """Delete the files in `folder` (exports, reports) that name the learner; returns how
    many."""
    removed = 0
    if not folder.is_dir():
        return 0
    for path in data_files(folder):
        if any(terms.token.search(data) is not None for data in _contents(path)):
            path.unlink()
            removed += 1
    return removed
