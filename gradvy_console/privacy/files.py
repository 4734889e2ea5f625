"""The data dir as a store of its own: worker logs, exports and reports name learners too, and
the verification of an erasure reads every byte of every file (databases, their write-ahead
logs and free pages, compressed model arrays) for what is left.
"""

from __future__ import annotations

import gzip
import mmap
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ..analytics.privacy import Terms
from ..store.sqlite import truncate_wal


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


def _unexplained(data: bytes | mmap.mmap, terms: Terms, longer: list[bytes]) -> int:
    """Occurrences of the terms in raw bytes that are not part of another learner's longer id
    (the bytes of "u0004" inside a record of "u00042")."""
    count = 0
    for match in terms.raw.finditer(data):
        start, word = match.start(), match.group()
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
            count += 1
    return count


def scan_files(root: Path, terms: Terms, known_ids: Callable[[], set[str]],
               skip: Callable[[Path], bool] | None = None) -> dict[str, int]:
    """Files under `root` whose bytes still hold one of the terms: {relative path: count}.
    `known_ids` gives the other learners' ids (asked only when a raw occurrence is found)."""
    found: dict[str, int] = {}
    longer: list[bytes] | None = None
    for path in data_files(root):
        if skip is not None and skip(path):
            continue
        for data in _contents(path):
            if terms.raw.search(data) is None:
                continue
            if longer is None:
                words = terms.words
                longer = sorted({i.encode("utf-8", "surrogatepass") for i in known_ids()
                                 if any(w in i.encode("utf-8", "surrogatepass") for w in words)
                                 and i.encode("utf-8", "surrogatepass") not in words},
                                key=len, reverse=True)
            n = _unexplained(data, terms, longer)
            if n:
                rel = str(path.relative_to(root))
                found[rel] = found.get(rel, 0) + n
    return found


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
        if any(terms.raw.search(data) is not None for data in _contents(path)):
            path.unlink()
            removed += 1
    return removed
