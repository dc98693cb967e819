"""Serve GridFS files from a Tornado web application.

:class:`GridFSHandler` is a :class:`tornado.web.RequestHandler` in the manner
of :class:`tornado.web.StaticFileHandler`::

    db = MotorClient().my_database
    application = tornado.web.Application([
        (r"/static/(.*)", GridFSHandler, {"database": db}),
    ])

A request for ``/static/image.png`` serves the newest GridFS file named
``image.png``. Responses carry Content-Type, Content-Length, Last-Modified
and an ETag; ``If-None-Match`` and ``If-Modified-Since`` are answered with
304 Not Modified. The body is sent chunk by chunk, each chunk read on a
worker and flushed to the client before the next is read, so a large file
never sits in memory whole.
"""

from __future__ import annotations

from typing import Any

try:
    import tornado.iostream
    import tornado.web
except ImportError as missing:  # pragma: no cover - tested in a subprocess
    raise ModuleNotFoundError(
        "motorlike.web needs Tornado: pip install 'motorlike[tornado]'", name="tornado"
    ) from missing
from gridfs.errors import NoFile

from motorlike import _gridfs_http

__all__ = ["GridFSHandler"]


class GridFSHandler(tornado.web.RequestHandler):
    """Serve GridFS files by name: GET and HEAD, with caching headers.

    Route it with a URL pattern whose one group is the file name and the
    keyword arguments ``database`` (a motorlike database, asyncio or
    Tornado) and optionally ``root_collection`` (the bucket name, default
    ``"fs"``).

    By default the client is told the response is cacheable but not for
    how long, so every request costs a quick look-up of the file; override
    :meth:`get_cache_time` to let clients cache for a while.
    """

    def initialize(self, database: Any, root_collection: str = "fs") -> None:
        self.database = database
        self.root_collection = root_collection

    def get_gridfs_file(self, bucket: Any, filename: str, request: Any) -> Any:
        """Choose the file to serve at a URL; override to change the mapping.

        ``bucket`` is a GridFS bucket of the handler's database, ``filename``
        the matched group of the URL pattern, ``request`` Tornado's
        ``HTTPServerRequest``. Return a GridOut or an awaitable of one; raise
        (or let the awaitable raise) ``gridfs.errors.NoFile`` for a 404.
        The default serves the newest file named ``filename``; to look files
        up by ``_id`` instead::

            class ByIdHandler(GridFSHandler):
                def get_gridfs_file(self, bucket, filename, request):
                    return bucket.open_download_stream(ObjectId(filename))
        """
        return bucket.open_download_stream_by_name(filename)

    def get_cache_time(self, path: str, modified: Any, mime_type: str) -> int:
        """Seconds a client may cache the file; 0 (the default) only marks it cacheable.

        ``modified`` is the file's upload date (whole seconds), ``mime_type``
        the Content-Type being sent.
        """
        return 0

    def set_extra_headers(self, path: str, gridout: Any) -> None:
        """Override to add headers to the response (the GridOut is opened)."""

    def compute_etag(self) -> str | None:
        # The handler sets the ETag itself; Tornado need not hash the body.
        return None

    async def get(self, path: str, include_body: bool = True) -> None:
        bucket = _gridfs_http.bucket_class_for(self.database)(self.database, self.root_collection)
        try:
            gridout = await _gridfs_http.resolve_grid_out(self.get_gridfs_file(bucket, path, self.request))
        except NoFile:
            raise tornado.web.HTTPError(404) from None

        headers, etag, modified, _ = _gridfs_http.standard_headers(gridout, path, self.get_cache_time)
        for name, value in headers:
            self.set_header(name, value)
        self.set_extra_headers(path, gridout)

        if _gridfs_http.is_not_modified(self.request.headers.get, etag, modified):
            self.set_status(304)
            return

        self.set_header("Content-Length", gridout.length)
        try:
            if include_body:
                await gridout.stream_to_handler(self)
        except tornado.iostream.StreamClosedError:
            return  # the client went away; nothing left to answer
        finally:
            gridout.close()
        self.finish()

    def head(self, path: str) -> Any:
        return self.get(path, include_body=False)
