"""Serve gzip-compressed static content from GridFS with Tornado.

Stores a compressed file named "my_file" in GridFS, then serves the bucket
with motorlike.web.GridFSHandler, adding "Content-Encoding: gzip" for files
whose metadata says they are compressed::

    python examples/tornado_gridfs.py --port 8888
    # then visit http://127.0.0.1:8888/static/my_file

The MongoDB server is $MOTORLIKE_TEST_URI if set, else an embedded test
server (see motorlike.testserver). With --smoke the example fetches the
file from itself once with a real HTTP client, checks it, and exits (0 on
success); --port 0 picks a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import sys

import tornado.httpclient
import tornado.httpserver
import tornado.netutil
import tornado.web

from motorlike import testserver
from motorlike.motor_tornado import MotorClient, MotorGridFSBucket
from motorlike.web import GridFSHandler

DATABASE = "motorlike_example_tornado"
CONTENT = b"Nonesuch nonsense\n" * 10


async def put_gridfile(database) -> None:
    """Store CONTENT gzip-compressed, as the file "my_file", a chunk at a time."""
    bucket = MotorGridFSBucket(database)
    grid_in = bucket.open_upload_stream("my_file", metadata={"contentType": "text/plain", "compressed": True})
    async with grid_in:
        await grid_in.write(gzip.compress(CONTENT))


class CompressedGridFSHandler(GridFSHandler):
    def set_extra_headers(self, path, gridout):
        if (gridout.metadata or {}).get("compressed"):
            self.set_header("Content-Encoding", "gzip")

    def get_cache_time(self, path, modified, mime_type):
        return 60  # let browsers keep it for a minute


def make_app(database) -> tornado.web.Application:
    return tornado.web.Application([(r"/static/(.*)", CompressedGridFSHandler, {"database": database})])


async def fetch_once(url: str) -> bool:
    http_client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    try:
        response = await http_client.fetch(url, raise_error=False)  # decompressed by Tornado
    finally:
        http_client.close()
    print(response.code, response.headers.get("Content-Encoding"), response.headers.get("Etag"))
    return response.code == 200 and response.body == CONTENT


async def run(uri: str, port: int, smoke: bool) -> int:
    client = MotorClient(uri)
    database = client[DATABASE]
    server = tornado.httpserver.HTTPServer(make_app(database))
    try:
        await put_gridfile(database)
        sockets = tornado.netutil.bind_sockets(port, "127.0.0.1")
        server.add_sockets(sockets)
        url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}/static/my_file"
        if smoke:
            ok = await fetch_once(url)
            print("smoke test", "passed" if ok else "FAILED")
            return 0 if ok else 1
        print(f"Serving {url} (Ctrl-C to stop)", flush=True)
        await asyncio.Event().wait()
        return 0
    finally:
        server.stop()
        if smoke:
            await client.drop_database(DATABASE)
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8888, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--smoke", action="store_true", help="fetch the file once from ourselves, then exit")
    options = parser.parse_args(argv)
    with testserver.server_uri() as uri:
        try:
            return asyncio.run(run(uri, options.port, options.smoke))
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
