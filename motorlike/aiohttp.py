"""Serve GridFS files from an aiohttp web application.

:class:`AIOHTTPGridFS` is an aiohttp request handler::

    client = AsyncIOMotorClient()
    gridfs_handler = AIOHTTPGridFS(client.my_database)

    app = aiohttp.web.Application()
    # The URL pattern must have a {filename} variable.
    resource = app.router.add_resource("/fs/{filename}")
    resource.add_route("GET", gridfs_handler)
    resource.add_route("HEAD", gridfs_handler)

Responses carry Content-Type, Content-Length, Last-Modified and an ETag;
``If-None-Match`` and ``If-Modified-Since`` are answered with 304 Not
Modified. The body is streamed chunk by chunk, each chunk read on a worker
and written (with aiohttp's flow control) before the next is read.

The three hooks are plain functions passed to the constructor; the
defaults below document their signatures.
"""

# This module is motorlike.aiohttp: with absolute imports (the default in
# Python 3), "import aiohttp" below is the real aiohttp package.
from __future__ import annotations

import asyncio
import inspect
from typing import Any, Callable

try:
    import aiohttp.web
except ImportError as missing:  # pragma: no cover - tested in a subprocess
    raise ModuleNotFoundError(
        "motorlike.aiohttp needs aiohttp: pip install 'motorlike[aiohttp]'", name="aiohttp"
    ) from missing
from gridfs.errors import NoFile

from motorlike import _gridfs_http

__all__ = ["AIOHTTPGridFS", "get_cache_time", "get_gridfs_file", "set_extra_headers"]


def get_gridfs_file(bucket: Any, filename: str, request: aiohttp.web.Request) -> Any:
    """Choose the file to serve at a URL (the default: the newest file named ``filename``).

    ``bucket`` is a GridFS bucket of the handler's database, ``filename``
    the ``{filename}`` part of the URL, ``request`` aiohttp's request.
    Return a GridOut or an awaitable of one; raise (or let the awaitable
    raise) ``gridfs.errors.NoFile`` for a 404. To look files up by ``_id``::

        def get_gridfile_by_id(bucket, filename, request):
            return bucket.open_download_stream(ObjectId(filename))

        handler = AIOHTTPGridFS(db, get_gridfs_file=get_gridfile_by_id)
    """
    return bucket.open_download_stream_by_name(filename)


def get_cache_time(filename: str, modified: Any, mime_type: str) -> int:
    """Seconds a client may cache the file; 0 (the default) only marks it cacheable.

    ``modified`` is the file's upload date (whole seconds), ``mime_type``
    the Content-Type being sent. For instance, to cache images for an hour::

        def image_cache_time(filename, modified, mime_type):
            return 3600 if mime_type.startswith("image/") else 0
    """
    return 0


def set_extra_headers(response: aiohttp.web.StreamResponse, gridout: Any) -> None:
    """Add headers to the response before it is sent (the default adds none).

    For instance, for files stored gzip-compressed::

        def gzip_header(response, gridout):
            if (gridout.metadata or {}).get("compressed"):
                response.headers["Content-Encoding"] = "gzip"
    """


def _route_error(request: aiohttp.web.Request) -> aiohttp.web.HTTPInternalServerError:
    try:
        pattern = request.match_info.route.resource.get_info().get("formatter")
    except AttributeError:
        pattern = None
    where = f'route "{pattern}"' if pattern else f"route of {request.path!r}"
    return aiohttp.web.HTTPInternalServerError(text=f"AIOHTTPGridFS: the {where} needs a {{filename}} variable")


class AIOHTTPGridFS:
    """An aiohttp handler serving files from a GridFS bucket (GET and HEAD).

    ``database`` is a motorlike database; ``root_collection`` the bucket
    name. ``get_gridfs_file``, ``get_cache_time`` and ``set_extra_headers``
    replace the module-level defaults of the same names.
    """

    def __init__(
        self,
        database: Any,
        root_collection: str = "fs",
        get_gridfs_file: Callable[..., Any] = get_gridfs_file,
        get_cache_time: Callable[..., Any] = get_cache_time,
        set_extra_headers: Callable[..., Any] = set_extra_headers,
    ) -> None:
        self._database = database
        self._bucket = _gridfs_http.bucket_class_for(database)(database, root_collection)
        self._get_gridfs_file = get_gridfs_file
        self._get_cache_time = get_cache_time
        self._set_extra_headers = set_extra_headers
        # Tell aiohttp this callable object is a coroutine function, so it
        # neither wraps it nor warns about a "bare function" handler.
        if hasattr(inspect, "markcoroutinefunction"):  # Python 3.12+
            inspect.markcoroutinefunction(self)
        else:
            self._is_coroutine = asyncio.coroutines._is_coroutine

    async def __call__(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        try:
            filename = request.match_info["filename"]
        except KeyError:
            raise _route_error(request) from None
        if request.method not in ("GET", "HEAD"):
            raise aiohttp.web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])

        try:
            gridout = await _gridfs_http.resolve_grid_out(self._get_gridfs_file(self._bucket, filename, request))
        except NoFile:
            raise aiohttp.web.HTTPNotFound(text=f"no file {filename!r}") from None

        response = aiohttp.web.StreamResponse()
        headers, etag, modified, _ = _gridfs_http.standard_headers(gridout, filename, self._get_cache_time)
        for name, value in headers:
            response.headers[name] = value
        self._set_extra_headers(response, gridout)

        if _gridfs_http.is_not_modified(request.headers.get, etag, modified):
            response.set_status(304)
            gridout.close()
            return response

        response.content_length = gridout.length
        try:
            await response.prepare(request)
            if request.method == "GET":
                async for chunk in gridout:
                    await response.write(chunk)
            await response.write_eof()
        finally:
            gridout.close()
        return response
