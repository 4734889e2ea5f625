"""Events from a file or standard input (NDJSON or a JSON array), streamed through the one
ingestion path in constant memory whatever the input's size: events are read, ingested and
dropped batch by batch. A line (or array element) longer than the event size limit is
dead-lettered as too_large without ever being held whole; lines that are not JSON become
dead letters with their line number."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from ..analytics.events import BAD_JSON, TOO_DEEP, TOO_LARGE, Rejection, json_too_deep
from ..errors import InputError
from ..progress import Progress, no_progress
from ..store import DocumentStore
from .dead_letters import dead_letter
from .ingestor import Ingestor, IngestResult

CHUNK = 1 << 16
# Kept of an oversized item for its dead letter (the detail gives its full size).
_HEAD = 512

Item = tuple[str | None, Any]
Read = Item | Rejection


def _open(source: str) -> tuple[IO[bytes], str]:
    if source == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None or stream.closed:
            raise InputError("Standard input is closed: pipe events in (… | gradvy run ingest -)"
                             " or give a file.")
        return stream, "standard input"
    path = Path(source)
    if not path.is_file():
        raise InputError(f"No such file: {source}.")
    try:
        return path.open("rb"), source
    except OSError as exc:
        raise InputError(f"Cannot read {source}: {exc.strerror}.") from None


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while True:
        try:
            chunk = stream.read(CHUNK)
        except (OSError, ValueError) as exc:
            raise InputError(f"Reading the input failed: {exc}.") from None
        if not chunk:
            return
        yield chunk


def _decode(raw: bytes, where: str) -> Read:
    try:
        return (None, orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        if json_too_deep(exc):
            return Rejection(TOO_DEEP, f"{where} nests deeper than any event may", raw)
        return Rejection(BAD_JSON, f"{where} is not valid JSON", raw)


def _too_large(head: bytes, size: int, limit: int, where: str) -> Rejection:
    return Rejection(TOO_LARGE, f"{where} is {size} bytes, limit {limit}", head[:_HEAD])


def _ndjson(first: bytes, chunks: Iterator[bytes], limit: int) -> Iterator[Read]:
    """One event per line; a line over `limit` bytes is skipped to its end, not held."""
    buf, pos, number = first, 0, 0
    while True:
        newline = buf.find(b"\n", pos)
        if newline < 0:
            if len(buf) - pos > limit:
                # Oversized: keep its head for the dead letter and count the rest away.
                number += 1
                head, size = buf[pos:pos + _HEAD], len(buf) - pos
                while True:
                    more = next(chunks, None)
                    if more is None:
                        yield _too_large(head, size, limit, f"line {number}")
                        return
                    newline = more.find(b"\n")
                    if newline >= 0:
                        size += newline
                        buf, pos = more, newline + 1
                        break
                    size += len(more)
                yield _too_large(head, size, limit, f"line {number}")
                continue
            more = next(chunks, None)
            if more is None:
                if buf[pos:].strip():
                    yield _decode(buf[pos:], f"line {number + 1}")
                return
            buf, pos = buf[pos:] + more, 0
            continue
        number += 1
        if newline - pos > limit:
            yield _too_large(buf[pos:pos + _HEAD], newline - pos, limit, f"line {number}")
        elif buf[pos:newline].strip():
            yield _decode(buf[pos:newline], f"line {number}")
        pos = newline + 1


UNCLOSED = "the JSON array is not closed"
_STRUCTURE = re.compile(rb'["\\\[\]{},]')


def _array(first: bytes, chunks: Iterator[bytes], limit: int) -> Iterator[Read]:
    """The elements of one top-level JSON array, split without parsing the whole: depth and
    string state are tracked over a bounded buffer; an element over `limit` bytes is counted
    away, not held."""
    buffer = first[first.index(b"[") + 1:]
    feed = iter(chunks)
    depth = 0
    in_string = escaped = False
    start = 0            # where the current element begins in `buffer`
    size = 0             # bytes of the current element already dropped (oversized)
    head = b""
    number = 0
    pos = 0
    done = False
    while not done:
        if pos >= len(buffer):
            more = next(feed, None)
            if more is None:
                break
            if size or len(buffer) - start > limit:
                if not size:
                    head = buffer[start:start + _HEAD]
                size += len(buffer) - start
                buffer, start, pos = more, 0, 0
            else:
                buffer, pos = buffer[start:] + more, len(buffer) - start
                start = 0
            continue
        if in_string:
            if escaped:
                escaped, pos = False, pos + 1
                continue
            quote = buffer.find(b'"', pos)
            slash = buffer.find(b"\\", pos)
            if quote < 0 and slash < 0:
                pos = len(buffer)
                continue
            if slash >= 0 and (quote < 0 or slash < quote):
                escaped, pos = True, slash + 1
                continue
            in_string, pos = False, quote + 1
            continue
        match = _STRUCTURE.search(buffer, pos)
        if match is None:
            pos = len(buffer)
            continue
        char, pos = match.group(), match.end()
        if char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
        elif char in (b"]", b"}") and depth > 0:
            depth -= 1
        elif depth == 0 and char in (b",", b"]"):
            element = buffer[start:pos - 1]
            total = size + len(element)
            if element.strip() or size:
                number += 1
                where = f"element {number}"
                if total > limit:
                    yield _too_large(head or element, total, limit, where)
                else:
                    yield _decode(element, where)
            start, size, head = pos, 0, b""
            done = char == b"]"
    if not done:
        # Cut off (a truncated file): a last element that is whole is still an event.
        tail = buffer[start:]
        if not size and tail.strip():
            try:
                value = orjson.loads(tail)
            except orjson.JSONDecodeError:
                pass
            else:
                yield (None, value)
                tail = b""
        yield Rejection(BAD_JSON, UNCLOSED, (head or tail)[:_HEAD])
        return
    # Nothing after the array is dropped unseen: it is a dead letter of its own.
    tail = buffer[pos:pos + _HEAD]
    while not tail.strip():
        more = next(feed, None)
        if more is None:
            return
        tail = more[:_HEAD]
    yield Rejection(BAD_JSON, "content after the end of the JSON array", tail)


def _first_line_alone(first: bytearray | bytes, chunks: Iterator[bytes], limit: int) -> bool:
    """Whether input that starts with "[" is NDJSON after all: its first line is a whole JSON
    value and more lines follow (one array per line). A pretty-printed or one-line array is
    not. Reads ahead only as far as the next non-blank byte (into `first`)."""
    newline = first.find(b"\n")
    if newline < 0 or newline > limit:
        return False
    try:
        orjson.loads(first[:newline])
    except orjson.JSONDecodeError:
        return False
    while not first[newline + 1:].strip():
        more = next(chunks, None)
        if more is None:
            return False
        first += more
    return True


def read_events(source: str, limit: int) -> Iterator[Read]:
    """Events (receipt None, decoded value) and rejections (bad lines), in input order,
    streamed. Raises InputError when the input cannot be read at all."""
    stream, _name = _open(source)
    try:
        chunks = _chunks(stream)
        first = bytearray()
        for chunk in chunks:
            first += chunk
            if first.strip():
                break
        if not first.strip():
            return
        if first.lstrip()[:1] == b"[" and not _first_line_alone(first, chunks, limit):
            yield from _array(bytes(first), chunks, limit)
        else:
            yield from _ndjson(bytes(first), chunks, limit)
    finally:
        if source != "-":
            stream.close()


def read_event_source(source: str, limit: int = 16_384
                      ) -> tuple[list[Item], list[Rejection]]:
    """The whole input at once: (items to ingest, lines that are not JSON). For tests and
    small inputs; `ingest_source` streams."""
    items: list[Item] = []
    bad: list[Rejection] = []
    for read in read_events(source, limit):
        (bad if isinstance(read, Rejection) else items).append(read)  # type: ignore[arg-type]
    return items, bad


def ingest_source(store: DocumentStore, ingestor: Ingestor, source: str, batch_size: int = 1000,
                  progress: Progress = no_progress) -> IngestResult:
    """Ingest a file or standard input batch by batch; progress counts items read (the total
    is unknown while streaming: reported as 0)."""
    result = IngestResult()
    items: list[Item] = []
    bad: list[Rejection] = []
    seen = 0

    def flush() -> None:
        nonlocal items, bad
        # Lines that are not JSON (or too large) still go to dead letters, with their line
        # number.
        result.add(dead_letter(store, bad))
        if items:
            result.add(ingestor.ingest(items))
        items, bad = [], []
        progress(seen, 0)

    progress(0, 0)
    decoded = 0
    unclosed = False
    for read in read_events(source, ingestor.limits.max_payload_bytes):
        seen += 1
        if isinstance(read, Rejection):
            bad.append(read)
            unclosed = unclosed or read.detail == UNCLOSED
        else:
            items.append(read)
            decoded += 1
        if len(items) + len(bad) >= batch_size:
            flush()
    flush()
    name = "standard input" if source == "-" else source
    if unclosed:
        raise InputError(f"{name} starts like a JSON array but is not valid JSON (it ends "
                         f"before the array is closed); {decoded} complete element(s) were "
                         "ingested, the rest dead-lettered.")
    if seen and not decoded:
        raise InputError(f"{name} is not JSON: expected one JSON event per line or a JSON "
                         f"array; its {seen} line(s) were dead-lettered.")
    return result
