#!/usr/bin/env python3
"""A small closed-loop HTTP load client for the desk (no dependencies):
N keep-alive connections on loopback, each sending the next request as soon
as the previous answer is read, for a bounded time. Prints requests per
second and p50/p90/p99/max latency per path template.

  desk_load.py ADDR AUTH_HEADER IDS_FILE PATH_TEMPLATE [CLIENTS] [SECONDS]
  PATH_TEMPLATE contains {id}, replaced by ids drawn in turn from IDS_FILE.
"""
import asyncio
import sys
import time


async def client(host, port, header, paths, deadline, lat, errors, start_at):
    reader, writer = await asyncio.open_connection(host, port)
    i = start_at
    while time.monotonic() < deadline:
        path = paths[i % len(paths)]
        i += 1
        req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{header}\r\n\r\n".encode()
        t0 = time.perf_counter()
        writer.write(req)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        lat.append(time.perf_counter() - t0)
        if status != 200:
            errors.append(status)
    writer.close()


def pct(sorted_lat, p):
    if not sorted_lat:
        return float("nan")
    return sorted_lat[min(len(sorted_lat) - 1, int(p / 100.0 * len(sorted_lat)))] * 1000


async def main():
    addr, header, ids_file, template = sys.argv[1:5]
    clients = int(sys.argv[5]) if len(sys.argv) > 5 else 50
    seconds = float(sys.argv[6]) if len(sys.argv) > 6 else 20
    host, port = addr.rsplit(":", 1)
    ids = [l.strip() for l in open(ids_file) if l.strip()]
    paths = [template.replace("{id}", i) for i in ids]
    lat, errors = [], []
    t0 = time.monotonic()
    deadline = t0 + seconds
    await asyncio.gather(*(client(host, int(port), header, paths, deadline, lat, errors, k * 97) for k in range(clients)))
    elapsed = time.monotonic() - t0
    lat.sort()
    print(
        f"{template:<40} {clients} clients {elapsed:5.1f} s  {len(lat):7d} req  {len(lat) / elapsed:8.1f} req/s  "
        f"p50 {pct(lat, 50):6.1f} ms  p90 {pct(lat, 90):6.1f} ms  p99 {pct(lat, 99):6.1f} ms  max {lat[-1] * 1000 if lat else 0:6.1f} ms  "
        f"non-200: {len(errors)}"
    )


asyncio.run(main())
