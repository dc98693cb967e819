"""HTTP details shared by the GridFS request handlers.

:class:`motorlike.web.GridFSHandler` (Tornado) and
:class:`motorlike.aiohttp.AIOHTTPGridFS` answer the same way; this module
holds what they share and imports neither web framework.

PyMongo 4 stores no MD5 for GridFS files, so the ETag is a SHA-256 of what
identifies a stored file's content: its ``_id``, ``length`` and
``uploadDate`` (a GridFS file is never modified in place).
"""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import inspect
import mimetypes
from typing import Any, Callable, Mapping

from motorlike.metaprogramming import generated_class
from motorlike._internals import _file_document
from motorlike.motor_gridfs import AgnosticGridFSBucket

_UTC = datetime.timezone.utc
DEFAULT_MIME_TYPE = "application/octet-stream"


def bucket_class_for(database: Any) -> type:
    """The GridFS bucket class of ``database``'s framework (asyncio or Tornado)."""
    # __class__, not type(): an object posing as a motorlike database (a test
    # double) names the class it stands for there.
    framework = getattr(database.__class__, "_framework", None)
    if framework is None:
        raise TypeError(f"database must be a motorlike database, not {database!r}")
    return generated_class(AgnosticGridFSBucket, framework)


async def resolve_grid_out(result: Any) -> Any:
    """The GridOut a ``get_gridfs_file`` hook returned (or a future of), opened."""
    if inspect.isawaitable(result):
        result = await result
    if not _file_document(result.delegate):
        await result.open()
    return result


def file_document(grid_out: Any) -> Mapping[str, Any]:
    return _file_document(grid_out.delegate)


def as_utc(moment: datetime.datetime) -> datetime.datetime:
    """``moment`` as an aware UTC datetime (PyMongo gives naive UTC unless tz_aware)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=_UTC)
    return moment.astimezone(_UTC)


def modified_time(document: Mapping[str, Any]) -> datetime.datetime:
    """The file's upload date to whole seconds, as HTTP dates have it, tz as stored."""
    return document["uploadDate"].replace(microsecond=0)


def compute_etag(document: Mapping[str, Any]) -> str:
    """A strong, quoted ETag for a stored file, without reading its data."""
    identity = "\x00".join(
        (
            type(document["_id"]).__name__,
            repr(document["_id"]),
            str(document.get("length", 0)),
            as_utc(document["uploadDate"]).isoformat(),
        )
    )
    return '"' + hashlib.sha256(identity.encode("utf-8")).hexdigest() + '"'


def mime_type_of(document: Mapping[str, Any], path: str) -> str | None:
    """The file's declared type (files document, else metadata), else a guess from the name."""
    declared = document.get("contentType")
    if not declared:
        metadata = document.get("metadata")
        if isinstance(metadata, Mapping):
            declared = metadata.get("contentType")
    if declared and isinstance(declared, str):
        return declared
    guessed, _ = mimetypes.guess_type(document.get("filename") or path)
    return guessed


def http_date(moment: datetime.datetime) -> str:
    return email.utils.format_datetime(as_utc(moment), usegmt=True)


def _etag_matches(header: str, etag: str) -> bool:
    # If-None-Match uses the weak comparison (RFC 9110, 13.1.2).
    if header.strip() == "*":
        return True
    wanted = etag[2:] if etag.startswith("W/") else etag
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == wanted:
            return True
    return False


def _unmodified_since(header: str, modified: datetime.datetime) -> bool:
    try:
        since = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False  # an invalid date is ignored
    if since is None:
        return False
    return as_utc(modified) <= as_utc(since)


def is_not_modified(get_header: Callable[[str], str | None], etag: str, modified: datetime.datetime) -> bool:
    """Whether a GET/HEAD with these request headers gets 304 Not Modified.

    If-None-Match, when present, decides alone; only without it is
    If-Modified-Since consulted (RFC 9110, 13.2.2).
    """
    if_none_match = get_header("If-None-Match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, etag)
    if_modified_since = get_header("If-Modified-Since")
    if if_modified_since is not None:
        return _unmodified_since(if_modified_since, modified)
    return False


def cache_headers(cache_time: Any) -> list[tuple[str, str]]:
    """Headers for a ``get_cache_time`` answer: seconds to cache, or 0 for "cacheable"."""
    seconds = int(cache_time or 0)
    if seconds > 0:
        expires = datetime.datetime.now(_UTC) + datetime.timedelta(seconds=seconds)
        return [("Expires", http_date(expires)), ("Cache-Control", f"max-age={seconds}")]
    return [("Cache-Control", "public")]


def standard_headers(grid_out: Any, path: str, get_cache_time: Callable[..., Any]) -> tuple[list[tuple[str, str]], str, datetime.datetime, str]:
    """The response headers for ``grid_out``: (headers, etag, modified, mime type)."""
    document = file_document(grid_out)
    modified = modified_time(document)
    etag = compute_etag(document)
    mime_type = mime_type_of(document, path) or DEFAULT_MIME_TYPE
    headers = [("Last-Modified", http_date(modified)), ("Etag", etag), ("Content-Type", mime_type)]
    headers += cache_headers(get_cache_time(path, modified, mime_type))
    return headers, etag, modified, mime_type
