"""Throughput of the build-output monitor against Buildbot's stock warning counter.

Generates a buildworld-shaped log (all twelve stage banners and a VKERNEL64 kernel build; mostly
``cc ...`` command lines and ``===> dir`` lines, about 1% compiler warnings with gcc's source and
caret lines) of at least 1,000,000 lines, then feeds it in 64 KiB chunks

* through ``BuildLogMonitor`` (banners, stages, warnings, errors, make failures), and
* through the pattern matching of Buildbot's ``WarningCountingShellCommand``: its real default
  ``warningPattern`` imported from ``buildbot.steps.shell``, applied per line with ``re.match``
  after decoding and splitting each chunk into lines, as its log observer does.

Prints MB/s and lines/s of both, their ratio and PASS/FAIL for the target ratio (monitor/stock
>= 1.0), then the throughput of ``BuildLogDigest`` (what BuildWorld's digest log mode runs on
the worker) and how much of the log it streams. Exit status is 0 either way unless --strict
is given. The master's side of the digest mode is measured by benchmarks/mastercpu.py.
"""
import argparse
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from buildbot.steps.shell import WarningCountingShellCommand  # noqa: E402

from buildbot_vkckpt.monitor.buildlog import BuildLogMonitor  # noqa: E402
from buildbot_vkckpt.monitor.buildlogdigest import BuildLogDigest  # noqa: E402

DASHES = "-" * 62
TARGET_RATIO = 1.0
STAGES = [
    ">>> starting buildworld target",
    ">>> Rebuilding the temporary build tree",
    ">>> stage 1: bootstrap tools",
    ">>> stage 2b: rebuilding the object tree",
    ">>> stage 2c: build tools",
    ">>> stage 3: cross tools",
    ">>> stage 4a: populating /usr/obj/usr/src/world_x86_64/usr/include",
    ">>> stage 4b: building libraries",
    ">>> stage 4c: make dependencies",
    ">>> stage 4d: building everything",
    ">>> stage 5: building rescue and initrd",
]
DIRS = ["lib/libc", "lib/libm", "lib/libutil", "bin/sh", "bin/ls", "sbin/hammer2", "usr.bin/vi",
        "usr.sbin/config", "gnu/usr.bin/cc80/cc1", "libexec/rtld-elf", "sys/boot"]
CFLAGS = ("-O -pipe -std=gnu99 -march=x86-64 -Wall -Wno-unused-parameter -Wsystem-headers "
          "-Werror=implicit-function-declaration -DNO_SHARED -D_THREAD_SAFE")


def generate(min_lines: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    out = []
    per_stage = min_lines // len(STAGES) + 1
    for banner in STAGES:
        out += ["", DASHES, banner, DASHES]
        produced = 0
        while produced < per_stage:
            d = rng.choice(DIRS)
            out.append(f"===> {d} (all)")
            produced += 1
            for _ in range(rng.randint(10, 30)):
                n = rng.randrange(100000)
                src = f"/usr/src/{d}/src{n % 997}.c"
                out.append(f"cc {CFLAGS} -I/usr/src/{d} -I/usr/src/include -c {src} "
                           f"-o src{n % 997}.o")
                produced += 1
                if rng.random() < 0.01:
                    out.append(f"{src}:{n % 900 + 1}:{n % 40 + 1}: warning: unused variable "
                               f"'v{n % 13}' [-Wunused-variable]")
                    out.append(f"  {n % 900 + 1} |   int v{n % 13};")
                    out.append("      |       ^~")
                    produced += 3
    out += [DASHES, ">>> buildworld target complete", DASHES, "", DASHES,
            ">>> Kernel build for VKERNEL64 started on Fri Jul 24 10:02:11 UTC 2020", DASHES,
            "===> VKERNEL64", "linking kernel.debug", DASHES,
            ">>> Kernel build for VKERNEL64 completed on Fri Jul 24 10:09:40 UTC 2020", DASHES]
    return ("\n".join(out) + "\n").encode()


def chunks_of(data: bytes, size: int):
    return [data[i:i + size] for i in range(0, len(data), size)]


def run_monitor(chunks):
    monitor = BuildLogMonitor()
    for chunk in chunks:
        monitor.feed(chunk)
    monitor.close()
    return monitor.report()


def run_digest(chunks):
    digest = BuildLogDigest()
    out = sum(len(digest.feed(chunk)) for chunk in chunks) + len(digest.close())
    return out, digest.kept_lines


def run_stock(chunks):
    """Buildbot's stock counting: decoded chunks split into lines, warningPattern per line."""
    wre = re.compile(WarningCountingShellCommand.warningPattern)
    count, partial = 0, ""
    for chunk in chunks:
        text = partial + chunk.decode("utf-8", "replace")
        cut = text.rfind("\n") + 1
        partial, text = text[cut:], text[:cut]
        for line in text.rstrip().split("\n"):
            if wre.match(line):
                count += 1
    if partial and wre.match(partial):
        count += 1
    return count


def best_of(repeat, fn, *args):
    best, result = None, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(*args)
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
    return best, result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=64 * 1024)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs each")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = ap.parse_args(argv)

    data = generate(args.lines)
    lines = data.count(b"\n")
    chunks = chunks_of(data, args.chunk)
    mb = len(data) / 1e6
    print(f"log: {lines:,} lines, {mb:.1f} MB, {len(chunks):,} chunks of {args.chunk} bytes")

    t_mon, rep = best_of(args.repeat, run_monitor, chunks)
    t_stock, stock_warnings = best_of(args.repeat, run_stock, chunks)
    print(f"monitor: {mb / t_mon:8.1f} MB/s {lines / t_mon:12,.0f} lines/s  ({t_mon:.3f} s) "
          f"state={rep.state} stages={len(rep.stages)} warnings={rep.warning_count}")
    print(f"stock:   {mb / t_stock:8.1f} MB/s {lines / t_stock:12,.0f} lines/s  "
          f"({t_stock:.3f} s) warnings={stock_warnings}  (warningPattern {WarningCountingShellCommand.warningPattern!r})")
    ratio = t_stock / t_mon
    ok = ratio >= TARGET_RATIO and rep.state == "succeeded" and len(rep.stages) == 13
    print(f"ratio monitor/stock = {ratio:.2f} (target >= {TARGET_RATIO}): "
          f"{'PASS' if ok else 'FAIL'}")
    t_dig, (kept_bytes, kept_lines) = best_of(args.repeat, run_digest, chunks)
    print(f"digest:  {mb / t_dig:8.1f} MB/s {lines / t_dig:12,.0f} lines/s  ({t_dig:.3f} s) "
          f"streams {kept_lines:,} lines, {kept_bytes / 1e6:.2f} MB "
          f"({kept_bytes / len(data):.1%} of the log)")
    return 1 if (args.strict and not ok) else 0


if __name__ == "__main__":
    sys.exit(main())
