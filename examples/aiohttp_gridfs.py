"""Serve gzip-compressed static content from GridFS with aiohttp.

Stores a compressed file named "my_file" in GridFS, then serves the bucket
with motorlike's AIOHTTPGridFS handler, adding "Content-Encoding: gzip" for
files whose metadata says they are compressed::

    python examples/aiohttp_gridfs.py --port 8080
    # then visit http://127.0.0.1:8080/fs/my_file

The MongoDB server is $MOTORLIKE_TEST_URI if set, else an embedded test
server (see motorlike.testserver). With --smoke the example fetches the
file from itself once with a real HTTP client, checks it, and exits (0 on
success); --port 0 picks a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import sys

import aiohttp
import aiohttp.web

from motorlike import testserver
from motorlike.aiohttp import AIOHTTPGridFS
from motorlike.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorGridFSBucket

DATABASE = "motorlike_example_aiohttp"
CONTENT = b"Nonesuch nonsense\n" * 10


async def put_gridfile(database) -> None:
    """Store CONTENT gzip-compressed, as the file "my_file"."""
    bucket = AsyncIOMotorGridFSBucket(database)
    await bucket.upload_from_stream(
        "my_file",
        io.BytesIO(gzip.compress(CONTENT)),
        metadata={"contentType": "text/plain", "compressed": True},
    )


def gzip_header(response: aiohttp.web.StreamResponse, gridout) -> None:
    """Tell the client that compressed files are compressed."""
    if (gridout.metadata or {}).get("compressed"):
        response.headers["Content-Encoding"] = "gzip"


def make_app(database) -> aiohttp.web.Application:
    gridfs_handler = AIOHTTPGridFS(database, set_extra_headers=gzip_header)
    app = aiohttp.web.Application()
    # The GridFS URL pattern must have a "{filename}" variable.
    resource = app.router.add_resource("/fs/{filename}")
    resource.add_route("GET", gridfs_handler)
    resource.add_route("HEAD", gridfs_handler)
    return app


async def fetch_once(url: str) -> bool:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            body = await response.read()  # decompressed by aiohttp
            print(response.status, response.headers.get("Content-Encoding"), response.headers.get("ETag"))
            return response.status == 200 and body == CONTENT


async def run(uri: str, port: int, smoke: bool) -> int:
    client = AsyncIOMotorClient(uri)
    database = client[DATABASE]
    runner = aiohttp.web.AppRunner(make_app(database))
    try:
        await put_gridfile(database)
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/fs/my_file"
        if smoke:
            ok = await fetch_once(url)
            print("smoke test", "passed" if ok else "FAILED")
            return 0 if ok else 1
        print(f"Serving {url} (Ctrl-C to stop)", flush=True)
        await asyncio.Event().wait()
        return 0
    finally:
        await runner.cleanup()
        if smoke:
            await client.drop_database(DATABASE)
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--smoke", action="store_true", help="fetch the file once from ourselves, then exit")
    options = parser.parse_args(argv)
    with testserver.server_uri() as uri:
        try:
            return asyncio.run(run(uri, options.port, options.smoke))
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
