#!/usr/bin/env python3
"""A TCP proxy on loopback that holds every chunk DELAY seconds in each direction, order kept:
a network's latency between `serve` and a local PostgreSQL (this kernel has no netem).

    bench/lag.py LISTEN_PORT TARGET_PORT DELAY &
    DATABASE_URL=postgres://postgres@127.0.0.1:LISTEN_PORT/an_empty_db bench/profile

asyncio rounds its sleeps up: DELAY 0.001 gave round trips of 3-6 ms here (psql \\timing).
"""

import asyncio
import sys
import time


async def pipe(reader, writer, delay):
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            if data is None:
                writer.close()
                return
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    task = asyncio.create_task(deliver())
    while data := await reader.read(65536):
        queue.put_nowait((time.monotonic() + delay, data))
    queue.put_nowait((0, None))
    await task


async def main(listen, target, delay):
    async def handle(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pipe(client_reader, server_writer, delay),
                             pipe(server_reader, client_writer, delay), return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
