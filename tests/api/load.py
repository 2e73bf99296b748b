"""Load generators for a live server (tests/live_server.py): /locate readers in
threads and event writers in a process of their own, so that the writers' client CPU does
not delay the readers' measurements. Used by tests/api/test_write_load.py and
bench/write_load.py.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import threading
import time
from collections import Counter

import httpx
import numpy as np

from tests.e2e.city import GRID_CENTRES, INCIDENT
from tests.live_server import Live


def read_locate(live: Live, readers: int, seconds: float) -> tuple[np.ndarray, Counter[int]]:
    """/locate from ``readers`` threads for ``seconds``: (latencies in s, statuses)."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    until = time.monotonic() + seconds

    def loop(offset: int) -> None:
        points = itertools.islice(itertools.cycle(GRID_CENTRES.values()), offset, None)
        mine: list[float] = []
        seen: Counter[int] = Counter()
        with httpx.Client(base_url=live.url, timeout=30) as http:
            while time.monotonic() < until:
                lon, lat = next(points)
                began = time.perf_counter()
                answer = http.get("/locate", params={"lon": lon, "lat": lat},
                                  headers=live.headers("viewer"))
                mine.append(time.perf_counter() - began)
                seen[answer.status_code] += 1
        with lock:
            latencies.extend(mine)
            statuses.update(seen)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return np.array(latencies), statuses


def post_events(live: Live, writers: int, seconds: float, prefix: str,
                results: multiprocessing.Queue[tuple[list[float], dict[int, int]]]) -> None:
    """``writers`` asyncio clients posting unique events for ``seconds`` (own process)."""

    async def run() -> tuple[list[float], dict[int, int]]:
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        until = time.monotonic() + seconds
        limits = httpx.Limits(max_connections=writers)
        async with httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as http:

            async def writer(number: int) -> None:
                for i in itertools.count():
                    if time.monotonic() >= until:
                        return
                    began = time.perf_counter()
                    answer = await http.post("/events", headers=live.headers("worker"), json={
                        "client_id": f"{prefix}-{number}-{i}", "category": "garbage",
                        "lon": INCIDENT[0], "lat": INCIDENT[1]})
                    latencies.append(time.perf_counter() - began)
                    statuses[answer.status_code] += 1

            await asyncio.gather(*(writer(n) for n in range(writers)))
        return latencies, dict(statuses)

    results.put(asyncio.run(run()))
