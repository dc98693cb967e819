"""motorlike.aiohttp.AIOHTTPGridFS, over real HTTP on 127.0.0.1.

aiohttp's TestServer listens on 127.0.0.1 on an OS-chosen port; its
TestClient sends real HTTP requests. The handler's database comes from the
``client`` fixture, so files are served from an asyncio and a Tornado
database alike.
"""

from __future__ import annotations

import datetime
import email.utils
import gzip
import os
import subprocess
import sys
import tracemalloc
import uuid

import aiohttp.web
import pytest
from aiohttp.test_utils import TestClient, TestServer
from bson import ObjectId

from motorlike import motor_asyncio, motor_gridfs, motor_tornado
from motorlike.aiohttp import AIOHTTPGridFS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BUCKET_CLASSES = {"asyncio": motor_asyncio.AsyncIOMotorGridFSBucket, "tornado": motor_tornado.MotorGridFSBucket}

TEXT = b"Nonesuch nonsense\n" * 100


@pytest.fixture
def bucket_name(db, sync_client):
    name = f"aio_{uuid.uuid4().hex[:12]}"
    yield name
    sync_client[db.name].drop_collection(f"{name}.files")
    sync_client[db.name].drop_collection(f"{name}.chunks")


@pytest.fixture
def bucket(framework, db, bucket_name):
    return BUCKET_CLASSES[framework](db, bucket_name)


def make_app(handler: AIOHTTPGridFS, pattern: str = "/fs/{filename}") -> aiohttp.web.Application:
    app = aiohttp.web.Application()
    resource = app.router.add_resource(pattern)
    resource.add_route("GET", handler)
    resource.add_route("HEAD", handler)
    return app


def http_client(app: aiohttp.web.Application) -> TestClient:
    return TestClient(TestServer(app, host="127.0.0.1", port=0))


async def test_get_serves_file_with_headers(db, bucket, bucket_name):
    file_id = await bucket.upload_from_stream("notes.txt", TEXT, chunk_size_bytes=256)
    await bucket.upload_from_stream("typed", b"{}", metadata={"contentType": "application/json"})
    await bucket.upload_from_stream("untyped", b"\x00\x01")
    stored = await bucket.open_download_stream(file_id)
    async with http_client(make_app(AIOHTTPGridFS(db, bucket_name))) as client:
        response = await client.get("/fs/notes.txt")
        assert response.status == 200
        assert await response.read() == TEXT
        assert response.headers["Content-Type"] == "text/plain"
        assert int(response.headers["Content-Length"]) == len(TEXT)
        assert response.headers["ETag"].startswith('"')
        assert response.headers["Cache-Control"] == "public"
        assert "Expires" not in response.headers
        last_modified = email.utils.parsedate_to_datetime(response.headers["Last-Modified"])
        assert last_modified == stored.upload_date.replace(tzinfo=datetime.timezone.utc, microsecond=0)

        response = await client.get("/fs/typed")
        assert response.headers["Content-Type"] == "application/json"
        response = await client.get("/fs/untyped")
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert await response.read() == b"\x00\x01"


async def test_head(db, bucket, bucket_name):
    await bucket.upload_from_stream("notes.txt", TEXT)
    async with http_client(make_app(AIOHTTPGridFS(db, bucket_name))) as client:
        response = await client.head("/fs/notes.txt")
        assert response.status == 200
        assert await response.read() == b""
        assert int(response.headers["Content-Length"]) == len(TEXT)
        assert response.headers["Content-Type"] == "text/plain"
        assert (await client.head("/fs/missing")).status == 404


async def test_missing_file_is_404(db, bucket_name):
    async with http_client(make_app(AIOHTTPGridFS(db, bucket_name))) as client:
        assert (await client.get("/fs/no-such-file")).status == 404


async def test_conditional_requests(db, bucket, bucket_name):
    await bucket.upload_from_stream("notes.txt", TEXT)
    async with http_client(make_app(AIOHTTPGridFS(db, bucket_name))) as client:
        first = await client.get("/fs/notes.txt")
        etag = first.headers["ETag"]
        last_modified = first.headers["Last-Modified"]
        modified = email.utils.parsedate_to_datetime(last_modified)

        for value in (etag, f"W/{etag}", f'"x", {etag}', "*"):
            response = await client.get("/fs/notes.txt", headers={"If-None-Match": value})
            assert response.status == 304, value
            assert await response.read() == b""
            assert response.headers["ETag"] == etag
        response = await client.get("/fs/notes.txt", headers={"If-None-Match": '"other"'})
        assert response.status == 200 and await response.read() == TEXT

        assert (await client.get("/fs/notes.txt", headers={"If-Modified-Since": last_modified})).status == 304
        earlier = email.utils.format_datetime(modified - datetime.timedelta(seconds=1), usegmt=True)
        assert (await client.get("/fs/notes.txt", headers={"If-Modified-Since": earlier})).status == 200
        both = {"If-Modified-Since": last_modified, "If-None-Match": '"stale"'}
        assert (await client.get("/fs/notes.txt", headers=both)).status == 200
        assert (await client.head("/fs/notes.txt", headers={"If-None-Match": etag})).status == 304


async def test_hooks(framework, db, bucket, bucket_name):
    compressed = gzip.compress(TEXT)
    text_id = await bucket.upload_from_stream("notes", compressed, metadata={"contentType": "text", "compressed": True})
    image_id = await bucket.upload_from_stream("picture.png", b"\x89PNG...")
    seen = []

    def get_gridfile_by_id(bucket, filename, request):
        seen.append((type(bucket).__name__, filename, request.path))
        return bucket.open_download_stream(ObjectId(filename))

    def image_cache_time(filename, modified, mime_type):
        seen.append(("cache", filename, type(modified).__name__, mime_type))
        return 3600 if mime_type.startswith("image/") else 0

    def gzip_header(response, gridout):
        if (gridout.metadata or {}).get("compressed"):
            response.headers["Content-Encoding"] = "gzip"

    handler = AIOHTTPGridFS(
        db,
        bucket_name,
        get_gridfs_file=get_gridfile_by_id,
        get_cache_time=image_cache_time,
        set_extra_headers=gzip_header,
    )
    async with http_client(make_app(handler)) as client:
        response = await client.get(f"/fs/{text_id}", auto_decompress=False)
        assert response.status == 200
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Content-Type"] == "text"
        assert gzip.decompress(await response.read()) == TEXT

        response = await client.get(f"/fs/{image_id}")
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["Cache-Control"] == "max-age=3600"
        expires = email.utils.parsedate_to_datetime(response.headers["Expires"])
        now = datetime.datetime.now(datetime.timezone.utc)
        assert datetime.timedelta(minutes=59) < expires - now <= datetime.timedelta(hours=1, seconds=5)
        assert (await client.get(f"/fs/{ObjectId()}")).status == 404
    bucket_class_name = ("AsyncIO" if framework == "asyncio" else "") + "MotorGridFSBucket"
    assert seen[0] == (bucket_class_name, str(text_id), f"/fs/{text_id}")
    assert seen[1] == ("cache", str(text_id), "datetime", "text")


async def test_bad_route_and_method(db, bucket_name):
    handler = AIOHTTPGridFS(db, bucket_name)
    app = aiohttp.web.Application()
    app.router.add_route("GET", "/fs/{name}", handler)
    app.router.add_route("POST", "/post/{filename}", handler)
    async with http_client(app) as client:
        response = await client.get("/fs/x")
        assert response.status == 500
        assert "{filename}" in await response.text()
        assert (await client.post("/post/x")).status == 405


def test_constructor_type_check():
    with pytest.raises(TypeError):
        AIOHTTPGridFS(object())


LARGE_FILE_SIZE = 16 * 1024 * 1024  # about half a second to upload on mongoeco


async def test_large_file_is_streamed(db, bucket, bucket_name):
    pattern = bytes(range(256)) * 4096  # 1 MiB
    doubled = pattern * 2
    grid_in = bucket.open_upload_stream("large.bin")
    for _ in range(LARGE_FILE_SIZE // len(pattern)):
        await grid_in.write(pattern)
    await grid_in.close()

    async with http_client(make_app(AIOHTTPGridFS(db, bucket_name))) as client:
        tracemalloc.start()
        try:
            response = await client.get("/fs/large.bin")
            assert response.status == 200
            assert int(response.headers["Content-Length"]) == LARGE_FILE_SIZE
            received = 0
            pieces = 0
            async for piece in response.content.iter_chunked(64 * 1024):
                offset = received % len(pattern)
                assert piece == doubled[offset : offset + len(piece)]
                received += len(piece)
                pieces += 1
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert received == LARGE_FILE_SIZE and pieces > 1
    # Server and client together held a window of chunks as received and as
    # decoded (the chunk cursor's batch, motor_gridfs.WINDOW_BYTES) and a few
    # chunks, never the whole file: a handler that buffered the body, or the
    # server's 16 MiB batches, would need 16 MiB.
    bound = 2 * motor_gridfs.WINDOW_BYTES + 8 * motor_gridfs.DEFAULT_CHUNK_SIZE
    assert peak < bound, f"peak traced memory {peak / 2**20:.1f} MiB, more than {bound / 2**20:.1f} MiB"


def test_aiohttp_example_smoke(server_uri):
    """examples/aiohttp_gridfs.py --smoke serves one request to itself and exits 0."""
    env = dict(os.environ, MOTORLIKE_TEST_URI=server_uri, PYTHONPATH=ROOT)
    completed = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "aiohttp_gridfs.py"), "--smoke", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "200" in completed.stdout
