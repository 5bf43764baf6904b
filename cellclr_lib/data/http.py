"""Resumable HTTP download of one file: ``.part`` file, ``Range`` resume, size check, retries with backoff.

A BBBC021 plate zip is ~0.8 GB, so a dropped connection must not cost the bytes already received. The body is
streamed into ``<dest>.part``; after a failure the next attempt asks for ``Range: bytes=<have>-`` and appends,
and the ``.part`` file stays on disk between runs, so an interrupted ``cellclr download`` resumes too. The
file is renamed to ``dest`` only when its size equals the size the server announced (``Content-Length`` of a
200, or the total of ``Content-Range`` of a 206), so ``dest`` existing means "complete". A server that
announces no size gives no such evidence (a drop at a line end looks like a clean end): the caller passes the
file's known SHA-256 (``expected_sha256``) and such a file is accepted only when it matches, else refused.

The body is read with ``read1`` — whatever has arrived, up to :data:`CHUNK_BYTES` — so the bytes received
before a drop are kept even when a server drops every connection before a full chunk (``iter_content`` would
discard that partial chunk, and such a server would make no progress at all).

Failures are classified so that retrying is reserved for what can heal: connection errors, timeouts, truncated
bodies and 5xx/429 are retried with exponential backoff (``backoff * 2**k`` seconds); a 404/410 is final at once
(:class:`RemoteFileMissing`, so callers can treat an optional file as absent) and other 4xx are final too.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3
from requests.exceptions import ChunkedEncodingError

from cellclr_lib import __version__
from cellclr_lib.errors import CellclrError, DataError
from cellclr_lib.progress import progress_bar

USER_AGENT = f"cellclr/{__version__} (+python-requests)"
#: largest read; a read returns what has arrived, so a drop never discards received bytes
CHUNK_BYTES = 64 * 1024
_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
)


class RemoteFileMissing(CellclrError):
    """The server answered 404/410: the file is not there, and asking again will not change that."""


class _Retryable(Exception):
    """An attempt failed in a way that another attempt may fix (network, 5xx, truncated body)."""


@dataclass(frozen=True)
class FetchResult:
    """What :func:`fetch_file` did: where the file is, how many bytes crossed the network, whether it was cached."""

    path: Path
    bytes_transferred: int
    cached: bool


def part_path(dest: Path) -> Path:
    """The in-progress sibling of ``dest`` (kept across runs so a later run resumes it)."""
    return dest.with_name(dest.name + ".part")


def fetch_file(
    url: str,
    dest: str | Path,
    *,
    session: requests.Session | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    label: str | None = None,
    progress: bool = True,
    expected_sha256: str | None = None,
) -> FetchResult:
    """Download ``url`` to ``dest`` unless ``dest`` already exists; resume a leftover ``.part`` with ``Range``.

    ``retries`` bounds the number of *consecutive* failed attempts that did not extend the ``.part``, so a long transfer
    over a flaky link keeps going as long as it progresses, but a dead server fails after
    ``backoff * (2**retries - 1)`` seconds of waiting. ``label`` (e.g. ``"plate Week1_22123"``) is put in front of
    error messages and the progress bar. Raises :class:`RemoteFileMissing` on 404/410 and
    :class:`CellclrError` (naming the URL and file) on any other final failure; the ``.part`` file is kept.
    When the server announces no size, the download counts as complete only if ``expected_sha256`` is given
    and matches; otherwise it is refused (:class:`DataError`) and nothing is saved under ``dest``.
    """
    dest = Path(dest)
    if dest.exists():
        return FetchResult(dest, 0, cached=True)
    if retries < 0 or backoff < 0 or timeout <= 0:
        raise CellclrError(
            f"invalid retry settings (retries={retries}, backoff={backoff}, timeout={timeout})",
            fix="use retries >= 0, backoff >= 0 and timeout > 0",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    own_session = session is None
    session = session or requests.Session()
    prefix = f"{label}: " if label else ""
    part = part_path(dest)
    counter = _Counter()
    failures = 0
    longest = _size_of(part)
    try:
        while True:
            try:
                complete = _attempt(session, url, part, timeout, counter, prefix=prefix, progress=progress)
                if complete is None:
                    _check_unsized(part, url, dest, expected_sha256, prefix)
                if complete is not False:
                    os.replace(part, dest)
                    return FetchResult(dest, counter.received, cached=False)
                raise _Retryable("body shorter than announced")
            except (_Retryable, *_NETWORK_ERRORS) as err:
                # progress = the .part grew past its longest so far; a server that restarts from byte 0 on
                # every try (ignoring Range) and drops at the same place therefore still runs out of retries
                grown = _size_of(part) > longest
                longest = max(longest, _size_of(part))
                failures = 0 if grown else failures + 1
                if failures > retries:
                    raise DataError(
                        f"{prefix}download of {url} failed after {retries} retries ({err})",
                        path=dest,
                        fix="check the network (or --base-url) and rerun: the partial download is kept and resumed",
                    ) from err
                if failures:
                    time.sleep(backoff * 2 ** (failures - 1))
    finally:
        if own_session:
            session.close()


def _check_unsized(part: Path, url: str, dest: Path, expected_sha256: str | None, prefix: str) -> None:
    """A body of unannounced size is complete only if it has the known checksum (else delete and refuse)."""
    if expected_sha256 is not None and _sha256(part) == expected_sha256:
        return
    part.unlink()
    raise DataError(
        f"{prefix}{url} announced no size (no Content-Length) and its content "
        + ("differs from the known file" if expected_sha256 else "has no known checksum")
        + ": a transfer cut short cannot be told from a complete one, so it was not saved",
        path=dest,
        fix="rerun (the connection may have dropped), or use a server that sends Content-Length, e.g. the "
        "default --base-url",
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _body(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives: ``read1`` returns what is there, so nothing received is lost to a drop."""
    while chunk := response.raw.read1(CHUNK_BYTES):  # read at call time (tests shrink it)
        yield chunk


def _size_of(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


@dataclass
class _Counter:
    """Bytes received so far, updated chunk by chunk so a failed attempt still reports its progress."""

    received: int = 0


def _attempt(
    session: requests.Session,
    url: str,
    part: Path,
    timeout: float,
    counter: _Counter,
    *,
    prefix: str,
    progress: bool,
) -> bool | None:
    """One request: append to ``part`` from where it ends.

    True when ``part`` now holds the whole announced size, False when it is shorter, None when the stream
    ended cleanly but the server announced no size (completeness unknown).
    """
    have = _size_of(part)
    # identity: the announced length must be the length of the bytes written (no transparent gzip)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    with session.get(url, headers=headers, stream=True, timeout=timeout) as response:
        status = response.status_code
        if status in (404, 410):
            raise RemoteFileMissing(
                f"{prefix}{url} not found (HTTP {status})",
                path=part.with_suffix(""),
                fix="check --base-url and the plate name; the Broad's address is "
                "https://data.broadinstitute.org/bbbc/BBBC021/",
            )
        if status == 416 and have:
            # our .part is at least as long as the remote file: complete if the sizes agree, else start over
            if _content_range_total(response.headers.get("Content-Range", "")) == have:
                return True
            part.unlink()
            raise _Retryable("stale partial file (HTTP 416); restarting from scratch")
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}")
        if status not in (200, 206):
            raise CellclrError(
                f"{prefix}{url} answered HTTP {status} {response.reason}",
                path=part.with_suffix(""),
                fix="check --base-url; a proxy or login page may be in the way",
            )
        if status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range", ""))
            if start != have:
                part.unlink()
                raise _Retryable(f"server resumed at byte {start}, not {have}; restarting from scratch")
            mode = "ab"
        else:  # 200: the server ignored Range (or none was asked): write from the first byte
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
            have = 0
            mode = "wb"
        with (
            part.open(mode) as out,
            progress_bar(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=prefix.rstrip(": ") or part.name,
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            for chunk in _body(response):
                out.write(chunk)
                counter.received += len(chunk)
                bar.update(len(chunk))
    size = part.stat().st_size
    if total is None:  # no announced size: a clean end of stream proves nothing
        return None
    if size > total:
        part.unlink()
        raise _Retryable(f"received {size} bytes, more than the announced {total}; restarting from scratch")
    return size == total


def _parse_content_range(value: str) -> tuple[int, int | None]:
    """``bytes 100-199/1000`` -> ``(100, 1000)``; the total is None when the server sends ``*``."""
    try:
        unit, spec = value.split(" ", 1)
        span, total = spec.split("/", 1)
        start = int(span.split("-", 1)[0])
    except ValueError as err:
        raise _Retryable(f"unreadable Content-Range {value!r}") from err
    if unit != "bytes":
        raise _Retryable(f"unexpected Content-Range unit {unit!r}")
    return start, (None if total.strip() == "*" else int(total))


def _content_range_total(value: str) -> int | None:
    """Total size from a 416's ``Content-Range: bytes */1000``, None when absent."""
    try:
        return int(value.rsplit("/", 1)[1])
    except (IndexError, ValueError):
        return None
