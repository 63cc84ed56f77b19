"""Console monitor throughput and latency against a pexpect-style baseline.

Builds a ~100 MB mixed vkernel console transcript in memory (boots, shell sessions with command
output of very different lengths, panics with ddb traces, fatal traps, stalls), then measures:

* feed throughput of ConsoleMonitor in 2000-byte chunks (pexpect's default ``maxread``);
* the baseline: what an expect loop does (pexpect with ``searchwindowsize=None``): append each
  chunk to a buffer, search the whole buffer with every pattern of the list, consume up to the
  earliest match, repeat. The list holds the same patterns the monitor knows (one entry per
  kernel message kind plus the prompts, as one would port LAVA's KERNEL_MESSAGES table). A
  second, generous baseline merges them into two regexes. The baselines' cost grows with the
  unmatched output they keep re-reading, so they run on two prefixes and are extrapolated to
  the full size with the fitted exponent; the ratio on the prefix is printed too (measured);
* latency: the stream is cut so that a chunk ends exactly at the last byte of every prompt and
  every ``panic:`` line; the event must come back from that very feed call, and the call's
  duration bounds the latency.

Run: ``.venv/bin/python benchmarks/console.py [--size-mb 100]``.
"""
import argparse
import math
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from buildbot_vkckpt.monitor import console  # noqa: E402
from buildbot_vkckpt.monitor.console import ConsoleMonitor  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "monitor" / "samples"
CHUNK = 2000     # pexpect.spawn(maxread=2000), its default
PROMPT = b"vk-5e1f$ "


def _sample(name):
    return (SAMPLES / f"console-{name}.txt").read_bytes()


def build_transcript(size, seed=1):
    """A mixed transcript of about ``size`` bytes and a description of what is in it."""
    rnd = random.Random(seed)
    boot = _sample("boot-login")
    crash = [_sample(n).split(b"login: ", 1)[1] for n in ("ddb-trace", "fatal-trap",
                                                           "panic-wrapped", "double-fault")]
    words = [b"cc", b"-O2", b"-pipe", b"sys/kern/kern_checkpoint.c", b"===>", b"ok", b"ld",
             b"installing", b"/usr/obj/usr/src", b"vm_map", b"1234", b"warning-free", b"done"]
    lines = [b" ".join(rnd.choice(words) for _ in range(rnd.randint(3, 14))) + b"\n"
             for _ in range(4000)]
    parts, total, counts = [], 0, {"boots": 0, "commands": 0, "crashes": 0, "stalls": 0,
                                   "largest_output": 0}

    def add(blob):
        nonlocal total
        parts.append(blob)
        total += len(blob)

    while total < size:
        add(boot)
        counts["boots"] += 1
        # the echo of the command that sets the prompt must not look like the prompt
        add(b"root\n\n# PS1='vk-5e1f''$ '\n" + PROMPT)
        for _ in range(rnd.randint(5, 40)):
            out_lines = int(rnd.expovariate(1 / 800))         # mostly short, a few huge outputs
            start = rnd.randrange(len(lines))
            out = b"".join(lines[(start + i) % len(lines)] for i in range(out_lines))
            counts["largest_output"] = max(counts["largest_output"], len(out))
            add(b"./run-test\n" + out + PROMPT)
            counts["commands"] += 1
            if total >= size:
                break
        kind = rnd.random()
        if kind < 0.5:
            add(b"\n" + rnd.choice(crash) + b"c\nRebooting...\ncpu reset, rebooting vkernel\n")
            counts["crashes"] += 1
        elif kind < 0.6:
            add(b"\n" + b"vkd1: I/O error reading block 8192\n" * 30 + b"\n")
            counts["stalls"] += 1
        else:
            add(b"shutdown -p now\nsyncing disks... done\nThe operating system has halted.\n"
                b"cpu halt, exiting vkernel\n")
    return b"".join(parts), counts


def chunks_of(data, size=CHUNK):
    return [data[i:i + size] for i in range(0, len(data), size)]


def run_monitor(chunks):
    mon = ConsoleMonitor(shell_prompt=PROMPT.decode())
    n = 0
    start = time.perf_counter()
    for chunk in chunks:
        n += len(mon.feed(chunk))
    n += len(mon.close())
    return time.perf_counter() - start, n


PROMPTS = [rb"login: ", rb"db> ", rb"mountroot> ", re.escape(PROMPT)]


LIST_PATTERNS = ([re.compile(b"^(?:" + p + b")", re.M | re.X) for _, p in console.KERNEL_PATTERNS]
                 + [re.compile(b"^" + p, re.M) for p in PROMPTS])
MERGED_PATTERNS = [
    re.compile(rb"^(?:" + console._TRIGGER.pattern + rb")", re.M | re.X),
    re.compile(rb"^(?:" + b"|".join(PROMPTS) + rb")", re.M),
]
BASELINE_PATTERNS = LIST_PATTERNS


def run_baseline(chunks, budget=None, patterns=None):
    """pexpect-style loop; returns (seconds, matches, bytes consumed before the budget ran out)."""
    buf = b""
    n = done = 0
    start = time.perf_counter()
    for chunk in chunks:
        buf += chunk
        done += len(chunk)
        while True:
            best = None
            for rx in patterns or BASELINE_PATTERNS:
                m = rx.search(buf)
                if m and (best is None or m.start() < best.start()):
                    best = m
            if best is None:
                break
            n += 1
            buf = buf[max(best.end(), best.start() + 1):]
        if budget and time.perf_counter() - start > budget:
            break
    return time.perf_counter() - start, n, done


def latency(data, limit, base_limit):
    """Cut chunks at the end of every prompt and panic line in the first ``limit`` bytes."""
    data = data[:limit]
    ends = set()
    for rx, kind in ((re.compile(b"(?m)^" + re.escape(PROMPT)), "shell_prompt"),
                     (re.compile(rb"(?m)^db> "), "ddb_prompt"),
                     (re.compile(rb"(?m)^login: "), "login_prompt"),
                     (re.compile(rb"(?m)^panic: [^\n]*\n"), "panic")):
        for m in rx.finditer(data):
            ends.add((m.end(), kind))
    cuts = sorted({e for e, _ in ends} | set(range(CHUNK, len(data), CHUNK)))
    want = {}
    for end, kind in ends:
        want.setdefault(end, set()).add(kind)
    mon = ConsoleMonitor(shell_prompt=PROMPT.decode())
    mon_times, missed, last = [], 0, 0
    for cut in cuts:
        t0 = time.perf_counter()
        events = mon.feed(data[last:cut])
        dt = time.perf_counter() - t0
        if cut in want:
            mon_times.append(dt)
            if not want[cut] <= {e.kind for e in events}:
                missed += 1
        last = cut
    # baseline: time of the search loop after the chunk that completes the match (on a prefix:
    # it is slow)
    buf, base_times, last = b"", [], 0
    for cut in [c for c in cuts if c <= base_limit]:
        t0 = time.perf_counter()
        buf += data[last:cut]
        while True:
            best = None
            for rx in BASELINE_PATTERNS:
                m = rx.search(buf)
                if m and (best is None or m.start() < best.start()):
                    best = m
            if best is None:
                break
            buf = buf[max(best.end(), best.start() + 1):]
        if cut in want:
            base_times.append(time.perf_counter() - t0)
        last = cut
    return len(mon_times), missed, mon_times, base_times


def fmt_us(values):
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return "median %.0f us, p99 %.0f us, max %.0f us" % (
        statistics.median(values) * 1e6, p99 * 1e6, values[-1] * 1e6)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=100)
    ap.add_argument("--baseline-mb", type=float, default=2,
                    help="largest prefix the baseline runs on (it is extrapolated beyond)")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    data, counts = build_transcript(int(args.size_mb * 1e6))
    size_mb = len(data) / 1e6
    mlines = data.count(b"\n") / 1e6
    print(f"transcript: {size_mb:.1f} MB, {mlines:.2f} M lines, {counts}"
          f" (built in {time.perf_counter() - t0:.1f} s)")
    chunks = chunks_of(data)

    mon_s, mon_events = run_monitor(chunks)
    mon_rate = size_mb / mon_s
    print(f"monitor:  {mon_rate:6.1f} MB/s  ({mon_s:.1f} s for {size_mb:.0f} MB, "
          f"{mon_events} events, {CHUNK}-byte chunks)")

    ratios = {}
    for label, patterns, mb in (("list", LIST_PATTERNS, args.baseline_mb / 4),
                                ("merged", MERGED_PATTERNS, args.baseline_mb)):
        print(f"baseline '{label}': pexpect-style loop over {len(patterns)} patterns")
        base = []
        for size in (mb / 2, mb):                 # two prefixes; fit t = c * size^k
            prefix = chunks[:int(size * 1e6 / CHUNK)]
            secs, _, done = run_baseline(prefix, budget=20, patterns=patterns)
            base.append((done / 1e6, secs))
            m_secs, _ = run_monitor(prefix)
            print(f"  {done / 1e6:5.1f} MB prefix in {secs:6.2f} s = {done / 1e6 / secs:6.2f} MB/s;"
                  f" monitor on the same prefix {m_secs:.2f} s -> {secs / m_secs:.1f}x (measured)")
        (s1, t1), (s2, t2) = base
        k = max(1.0, math.log(t2 / t1) / math.log(s2 / s1)) if s2 > s1 and t1 > 0 else 1.0
        est = t2 * (size_mb / s2) ** k
        ratios[label] = est / mon_s
        print(f"  cost grows as size^{k:.2f}; extrapolated to {size_mb:.0f} MB: {est:.0f} s ="
              f" {size_mb / est:.2f} MB/s (EXTRAPOLATED, not run) -> monitor is"
              f" {ratios[label]:.1f}x faster")
    print(f"ratio on {size_mb:.0f} MB (target >= 10x): {ratios['list']:.1f}x the pexpect-style"
          f" baseline, {ratios['merged']:.1f}x the merged-regex baseline")

    lat_mb = min(10.0, size_mb)
    base_mb = min(2.0, lat_mb)
    n, missed, mon_t, base_t = latency(data, int(lat_mb * 1e6), int(base_mb * 1e6))
    print(f"latency over the first {lat_mb:.0f} MB, {n} prompt/panic line ends, each the last "
          f"byte of a chunk: {n - missed}/{n} events returned by that same feed call")
    print(f"  monitor feed call:  {fmt_us(mon_t)}")
    print(f"  baseline search after the chunk (first {base_mb:.0f} MB, {len(base_t)} events):"
          f" {fmt_us(base_t)}")
    print(f"total benchmark time {time.perf_counter() - t0:.1f} s")
    return 0 if missed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
