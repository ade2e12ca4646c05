#!/usr/bin/env python3
"""Draws docs/bench/*.png from a device run's results.txt (lines
`<runtime> p=<procs> BENCH <id> <value> <unit>`, as devbench/run.sh prints)."""
import collections, re, statistics, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

src, out_bars, out_scaling = sys.argv[1], sys.argv[2], sys.argv[3]
# Optional 4th argument: the workloads of the scaling chart, comma-separated.
scaling_ids = (sys.argv[4].split(",") if len(sys.argv) > 4
               else ["contended_4p4c", "spawn", "skynet", "pipeline", "fib30"])
d = collections.defaultdict(list)
units = {}
for line in open(src):
    m = re.match(r"(\w+) p=(\d+) BENCH (\S+) (\S+) (\S+)", line)
    if m:
        d[(m.group(3), int(m.group(2)), m.group(1))].append(float(m.group(4)))
        units[m.group(3)] = m.group(5)
ids = [i for i in ["pingpong", "buffered_1p1c", "contended_4p4c", "select2", "select2_unbuf",
                   "select_default", "close_broadcast", "spawn", "yield", "skynet", "skynet_rss",
                   "sieve", "mutex8", "rwmutex_read", "waitgroup", "with_cancel", "sleep100k",
                   "sleep100k_rss", "parked_rss_1m", "fib30", "pipeline"] if (i, 2, "goro") in d]
rts = [("goro", "C0"), ("go", "C1"), ("fiber", "C2"), ("tbb", "C3")]
fig, ax = plt.subplots(figsize=(16, 6))
w = 0.2
for k, (rt, color) in enumerate(rts):
    xs, ys = [], []
    for j, i in enumerate(ids):
        v = d.get((i, 2, rt))
        if v:
            xs.append(j + (k - 1.5) * w)
            ys.append(statistics.median(v))
    ax.bar(xs, ys, w, label=rt, color=color)
ax.set_yscale("log")
ax.set_xticks(range(len(ids)))
ax.set_xticklabels([f"{i}\n({units[i]})" for i in ids], rotation=60, ha="right", fontsize=8)
ax.set_title("GOMAXPROCS=2 (pinned to 2 cores), median of 2-3 runs, lower is better")
ax.legend()
fig.tight_layout()
fig.savefig(out_bars, dpi=110)

cols = min(5, len(scaling_ids))
rows = (len(scaling_ids) + cols - 1) // cols
fig, axs = plt.subplots(rows, cols, figsize=(3.6 * cols, 4 * rows), squeeze=False)
for ax in axs.flat[len(scaling_ids):]:
    ax.set_visible(False)
for ax, i in zip(axs.flat, scaling_ids):
    for rt, color in rts[:2]:
        ps = [p for p in (1, 2, 4, 8, 16) if (i, p, rt) in d]
        ax.plot(ps, [statistics.median(d[(i, p, rt)]) for p in ps], "o-", color=color, label=rt)
    ax.set_xscale("log", base=2)
    ax.set_title(f"{i} ({units.get(i, '')})")
    ax.set_xlabel("GOMAXPROCS")
    ax.legend()
fig.tight_layout()
fig.savefig(out_scaling, dpi=110)
