#!/usr/bin/env python3
"""The least total dependency lag of jobs_bench's shapes, in a model.

One server (the master's strand) takes the jobs one at a time, each for a
service time c; a job becomes ready the moment its predecessor is taken
(no-op jobs end at once), and the roots are ready at time 0; first come,
first served. Nothing else costs anything: no commit, no network, no
replication. The total lag is then `waits * c`, and a measured per-hand-off
floor F adds F per job. Prints, per shape, `waits` and the largest c that
keeps the total within the goal for a given F:

    bench/jobs_lag_bound.py [--floor-ms 1.1] [--goal-s 2.0]
"""
import argparse
import heapq
import json


def chains(count, length):
    parents = []
    for _ in range(count):
        for k in range(length):
            parents.append(-1 if k == 0 else len(parents) - 1)
    return parents


def tree(n):
    return [(i - 1) // 2 if i > 0 else -1 for i in range(n)]


def waits(parents):
    children = {}
    for i, p in enumerate(parents):
        if p >= 0:
            children.setdefault(p, []).append(i)
    queue = [(0.0, i) for i, p in enumerate(parents) if p < 0]
    heapq.heapify(queue)
    now = 0.0
    total = 0.0
    while queue:
        ready, job = heapq.heappop(queue)
        start = max(now, ready)
        total += start - ready
        now = start + 1.0
        for c in children.get(job, []):
            heapq.heappush(queue, (now, c))
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--floor-ms", type=float, default=1.1)
    ap.add_argument("--goal-s", type=float, default=2.0)
    o = ap.parse_args()
    out = {"model": "one server, service time c per job, FIFO", "floor_ms": o.floor_ms,
           "goal_s": o.goal_s, "shapes": []}
    for name, parents in (("100 nets x chain of 10", chains(100, 10)),
                          ("10 nets x chain of 100", chains(10, 100)),
                          ("binary tree of 1000", tree(1000))):
        w = waits(parents)
        left_s = o.goal_s - len(parents) * o.floor_ms / 1000.0
        out["shapes"].append({
            "shape": name, "jobs": len(parents), "waits_in_c": w,
            "c_us_at_most": max(0.0, left_s) / w * 1e6,
            "c_us_at_most_without_floor": o.goal_s / w * 1e6})
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
