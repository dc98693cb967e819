"""motorlike.web.GridFSHandler, over real HTTP on 127.0.0.1.

Each test starts a Tornado HTTPServer on an OS-chosen port and fetches from
it with Tornado's HTTP client. The handler's database comes from the
``client`` fixture, so it is served from a Tornado and an asyncio database.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import gzip
import os
import socket
import subprocess
import sys
import tracemalloc
import uuid

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.web
from bson import ObjectId

from motorlike import motor_asyncio, motor_gridfs, motor_tornado
from motorlike.web import GridFSHandler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BUCKET_CLASSES = {"asyncio": motor_asyncio.AsyncIOMotorGridFSBucket, "tornado": motor_tornado.MotorGridFSBucket}

TEXT = b"Nonesuch nonsense\n" * 100


@pytest.fixture
def bucket_name(db, sync_client):
    name = f"web_{uuid.uuid4().hex[:12]}"
    yield name
    sync_client[db.name].drop_collection(f"{name}.files")
    sync_client[db.name].drop_collection(f"{name}.chunks")


@pytest.fixture
def bucket(framework, db, bucket_name):
    return BUCKET_CLASSES[framework](db, bucket_name)


@contextlib.asynccontextmanager
async def serving(handlers, **settings):
    """Serve a Tornado application on 127.0.0.1; yields (base URL, HTTP client)."""
    application = tornado.web.Application(handlers, **settings)
    server = tornado.httpserver.HTTPServer(application)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    server.add_sockets([sock])
    http_client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", http_client
    finally:
        http_client.close()
        server.stop()
        await server.close_all_connections()


async def fetch(http_client, url, **kwargs):
    kwargs.setdefault("raise_error", False)
    kwargs.setdefault("request_timeout", 60)
    return await http_client.fetch(url, **kwargs)


def routes(db, bucket_name, handler=GridFSHandler):
    return [(r"/static/(.*)", handler, {"database": db, "root_collection": bucket_name})]


def http_date(moment: datetime.datetime) -> str:
    return email.utils.format_datetime(moment, usegmt=True)


async def test_get_serves_file_with_headers(db, bucket, bucket_name):
    file_id = await bucket.upload_from_stream("notes.txt", TEXT, chunk_size_bytes=256)
    await bucket.upload_from_stream("typed", b"{}", metadata={"contentType": "application/json"})
    await bucket.upload_from_stream("untyped", b"\x00\x01")
    stored = await bucket.open_download_stream(file_id)
    async with serving(routes(db, bucket_name)) as (base, http_client):
        response = await fetch(http_client, f"{base}/static/notes.txt")
        assert response.code == 200
        assert response.body == TEXT
        headers = response.headers
        assert headers["Content-Type"] == "text/plain"
        assert int(headers["Content-Length"]) == len(TEXT)
        assert headers["Etag"].startswith('"') and headers["Etag"].endswith('"')
        assert headers["Cache-Control"] == "public"
        assert "Expires" not in headers
        last_modified = email.utils.parsedate_to_datetime(headers["Last-Modified"])
        uploaded = stored.upload_date.replace(tzinfo=datetime.timezone.utc, microsecond=0)
        assert last_modified == uploaded

        response = await fetch(http_client, f"{base}/static/typed")
        assert response.headers["Content-Type"] == "application/json"
        response = await fetch(http_client, f"{base}/static/untyped")
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.body == b"\x00\x01"


async def test_etag_is_stable_and_differs_between_files(db, bucket, bucket_name):
    await bucket.upload_from_stream("a", b"same")
    await bucket.upload_from_stream("b", b"same")
    async with serving(routes(db, bucket_name)) as (base, http_client):
        first = (await fetch(http_client, f"{base}/static/a")).headers["Etag"]
        again = (await fetch(http_client, f"{base}/static/a")).headers["Etag"]
        other = (await fetch(http_client, f"{base}/static/b")).headers["Etag"]
    assert first == again != other


async def test_head(db, bucket, bucket_name):
    await bucket.upload_from_stream("notes.txt", TEXT)
    async with serving(routes(db, bucket_name)) as (base, http_client):
        response = await fetch(http_client, f"{base}/static/notes.txt", method="HEAD")
        assert response.code == 200
        assert response.body == b""
        assert int(response.headers["Content-Length"]) == len(TEXT)
        assert response.headers["Content-Type"] == "text/plain"
        assert "Etag" in response.headers
        missing = await fetch(http_client, f"{base}/static/missing", method="HEAD")
        assert missing.code == 404


async def test_missing_file_is_404(db, bucket, bucket_name):
    async with serving(routes(db, bucket_name)) as (base, http_client):
        response = await fetch(http_client, f"{base}/static/no-such-file")
        assert response.code == 404


async def test_if_none_match(db, bucket, bucket_name):
    await bucket.upload_from_stream("notes.txt", TEXT)
    async with serving(routes(db, bucket_name)) as (base, http_client):
        etag = (await fetch(http_client, f"{base}/static/notes.txt")).headers["Etag"]
        url = f"{base}/static/notes.txt"
        for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            response = await fetch(http_client, url, headers={"If-None-Match": value})
            assert response.code == 304, value
            assert response.body == b""
            assert response.headers["Etag"] == etag
        response = await fetch(http_client, url, headers={"If-None-Match": '"something-else"'})
        assert response.code == 200 and response.body == TEXT
        head = await fetch(http_client, url, method="HEAD", headers={"If-None-Match": etag})
        assert head.code == 304


async def test_if_modified_since(db, bucket, bucket_name):
    await bucket.upload_from_stream("notes.txt", TEXT)
    async with serving(routes(db, bucket_name)) as (base, http_client):
        url = f"{base}/static/notes.txt"
        first = await fetch(http_client, url)
        last_modified = first.headers["Last-Modified"]
        modified = email.utils.parsedate_to_datetime(last_modified)

        response = await fetch(http_client, url, headers={"If-Modified-Since": last_modified})
        assert response.code == 304
        later = http_date(modified + datetime.timedelta(days=1))
        assert (await fetch(http_client, url, headers={"If-Modified-Since": later})).code == 304
        earlier = http_date(modified - datetime.timedelta(seconds=1))
        response = await fetch(http_client, url, headers={"If-Modified-Since": earlier})
        assert response.code == 200 and response.body == TEXT
        response = await fetch(http_client, url, headers={"If-Modified-Since": "not a date"})
        assert response.code == 200
        # If-None-Match decides alone when both are sent.
        response = await fetch(
            http_client, url, headers={"If-Modified-Since": last_modified, "If-None-Match": '"stale"'}
        )
        assert response.code == 200


class HookedHandler(GridFSHandler):
    """Looks files up by _id, caches images, and adds a header."""

    seen: list = []

    def get_gridfs_file(self, bucket, filename, request):
        self.seen.append((type(bucket).__name__, filename, request.path))
        return bucket.open_download_stream(ObjectId(filename))

    def get_cache_time(self, path, modified, mime_type):
        self.seen.append(("cache", path, type(modified).__name__, mime_type))
        return 3600 if mime_type.startswith("image/") else 0

    def set_extra_headers(self, path, gridout):
        if (gridout.metadata or {}).get("compressed"):
            self.set_header("Content-Encoding", "gzip")


async def test_hooks(framework, db, bucket, bucket_name):
    compressed = gzip.compress(TEXT)
    text_id = await bucket.upload_from_stream("notes", compressed, metadata={"compressed": True})
    image_id = await bucket.upload_from_stream("picture.png", b"\x89PNG...")
    HookedHandler.seen = []
    async with serving(routes(db, bucket_name, HookedHandler)) as (base, http_client):
        response = await fetch(http_client, f"{base}/static/{text_id}", decompress_response=False)
        assert response.code == 200
        assert response.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(response.body) == TEXT
        assert response.headers["Cache-Control"] == "public"

        response = await fetch(http_client, f"{base}/static/{image_id}")
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["Cache-Control"] == "max-age=3600"
        expires = email.utils.parsedate_to_datetime(response.headers["Expires"])
        now = datetime.datetime.now(datetime.timezone.utc)
        assert datetime.timedelta(minutes=59) < expires - now <= datetime.timedelta(hours=1, seconds=5)

        assert (await fetch(http_client, f"{base}/static/{ObjectId()}")).code == 404
    bucket_class_name = ("AsyncIO" if framework == "asyncio" else "") + "MotorGridFSBucket"
    assert HookedHandler.seen[0] == (bucket_class_name, str(text_id), f"/static/{text_id}")
    assert HookedHandler.seen[1] == ("cache", str(text_id), "datetime", "application/octet-stream")


class UnopenedHandler(GridFSHandler):
    """Returns a GridOut that has not been opened (not even awaitable)."""

    def get_gridfs_file(self, bucket, filename, request):
        grid_out_class = {
            motor_asyncio.AsyncIOMotorGridFSBucket: motor_asyncio.AsyncIOMotorGridOut,
            motor_tornado.MotorGridFSBucket: motor_tornado.MotorGridOut,
        }[type(bucket)]
        return grid_out_class(bucket.collection, file_id=ObjectId(filename))


async def test_unopened_grid_out_from_hook(db, bucket, bucket_name):
    file_id = await bucket.upload_from_stream("x.txt", TEXT)
    async with serving(routes(db, bucket_name, UnopenedHandler)) as (base, http_client):
        response = await fetch(http_client, f"{base}/static/{file_id}")
        assert response.code == 200 and response.body == TEXT
        assert (await fetch(http_client, f"{base}/static/{ObjectId()}")).code == 404


# 16 MiB uploads in about half a second on the embedded server (mongoeco),
# and is served in a fraction of that.
LARGE_FILE_SIZE = 16 * 1024 * 1024


async def test_large_file_is_streamed(db, bucket, bucket_name):
    pattern = bytes(range(256)) * 4096  # 1 MiB
    doubled = pattern * 2
    grid_in = bucket.open_upload_stream("large.bin")
    for _ in range(LARGE_FILE_SIZE // len(pattern)):
        await grid_in.write(pattern)
    await grid_in.close()

    received = 0
    pieces = 0
    mismatches = 0

    def on_chunk(chunk: bytes) -> None:
        nonlocal received, pieces, mismatches
        offset = received % len(pattern)
        expected = doubled[offset : offset + len(chunk)] if len(chunk) <= len(pattern) else None
        if expected is not None and chunk != expected:
            mismatches += 1
        received += len(chunk)
        pieces += 1

    async with serving(routes(db, bucket_name)) as (base, http_client):
        tracemalloc.start()
        try:
            response = await fetch(http_client, f"{base}/static/large.bin", streaming_callback=on_chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert response.code == 200
    assert int(response.headers["Content-Length"]) == LARGE_FILE_SIZE
    assert received == LARGE_FILE_SIZE and mismatches == 0
    assert pieces > 1
    # Server and client together held a window of chunks as received and as
    # decoded (the chunk cursor's batch, motor_gridfs.WINDOW_BYTES) and a few
    # chunks, never the whole file: a handler that buffered the body, or the
    # server's 16 MiB batches, would need 16 MiB.
    bound = 2 * motor_gridfs.WINDOW_BYTES + 8 * motor_gridfs.DEFAULT_CHUNK_SIZE
    assert peak < bound, f"peak traced memory {peak / 2**20:.1f} MiB, more than {bound / 2**20:.1f} MiB"


async def test_stream_to_handler(db, bucket, bucket_name):
    file_id = await bucket.upload_from_stream("direct", TEXT, chunk_size_bytes=100)
    bucket_class = type(bucket)

    class FileHandler(tornado.web.RequestHandler):
        async def get(self, filename):
            fs = bucket_class(self.settings["database"], bucket_name)
            gridout = await fs.open_download_stream_by_name(filename)
            self.set_header("Content-Type", "text/plain")
            self.set_header("Content-Length", gridout.length)
            await gridout.stream_to_handler(self)
            self.finish()

    async with serving([(r"/direct/(.*)", FileHandler)], database=db) as (base, http_client):
        response = await fetch(http_client, f"{base}/direct/direct")
    assert response.code == 200 and response.body == TEXT
    assert file_id is not None


def test_tornado_example_smoke(server_uri):
    """examples/tornado_gridfs.py --smoke serves one request to itself and exits 0."""
    env = dict(os.environ, MOTORLIKE_TEST_URI=server_uri, PYTHONPATH=ROOT)
    completed = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "tornado_gridfs.py"), "--smoke", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "200" in completed.stdout
