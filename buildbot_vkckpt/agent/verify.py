"""``verify [--prepare]``: prove the guest went on after a restore as if nothing happened.

``--prepare`` (before the first checkpoint) starts a workload in the guest — a counter that
counts ``vmstat 1`` lines into ``/tmp/vkckpt-verify-TOKEN/counter`` — writes 64 KiB of random
data next to it and records the data's sha256, ``kern.boottime``, the guest clock and the
counter in ``verify.json`` in the session dir. Each later ``verify`` checks:

``workload-alive``       the counter's pid still exists
``workload-progressed``  the counter is larger than at the previous verify
``uptime-continuous``    no reboot: guest init's start (``ps -o lstart= -p 1``) unchanged and
                         uptime did not go back. ``kern.boottime`` alone is no boot identity:
                         it moves on every clock step, as after a thaw (reference §23);
                         uptime (clock minus boottime) stays continuous through a step
``files-intact``         the data's sha256 is unchanged
``network``              with ``-I``: ``vke0`` is still up; otherwise not applicable (ok)

The counting loop is the last process of its pipeline and starts no others (``echo`` and
arithmetic are shell builtins, ``vmstat`` keeps the time), so it stays the newest process of
the workload: a restore that drops processes drops it first.
"""
import json
import os
import re
import secrets

from . import client, probe
from .events import Outcome, result_event
from .session import Session

RECORD = "verify.json"
PROGRESS_GRACE = 2   # seconds the workload gets to advance when it has not yet
PROGRESS_POLL = 0.1  # how often the guest rereads the counter meanwhile (sleep(1) takes fractions)
DATA_KIB = 64
WORKLOAD_PREFIX = "/tmp/vkckpt-verify-"   # in the guest; a token of hex digits follows
WORKLOAD_DIR = re.compile(re.escape(WORKLOAD_PREFIX) + r"[0-9a-f]+")
_FIELD = re.compile(r"vkv_(\w+)=(.*)")
_BOOTTIME = re.compile(r"sec\s*=\s*(\d+)")


def add_arguments(p):
    p.add_argument("--prepare", action="store_true",
                   help="start the workload and record the guest's state (before checkpoint)")
    p.add_argument("--timeout", type=float, default=60.0, help="per guest command (s)")


def guest(session, emitter, cmd, timeout):
    """Run one guest shell line; its ``vkv_NAME=value`` lines as a dict."""
    res = client.request(session, {"op": "exec", "cmd": cmd, "timeout": timeout}, emitter,
                         timeout=timeout + 60)
    details = res.get("details") or {}
    if "output_tail" not in details:  # not the command's own failure: crash, timeout, busy
        raise Outcome(res.get("status", "infrastructure"),
                      f"verify: {res.get('summary')}", res.get("kind"), res.get("fix"), details)
    return fields_of(details["output_tail"])


def fields_of(lines):
    fields = {}
    for line in lines:
        m = _FIELD.search(line)
        if m:
            fields[m.group(1)] = m.group(2).strip()
    return fields


def progress_wait(rec, seconds):
    """Shell that returns once the counter is past the recorded one, or after ``seconds``:
    a restore that took less than a ``vmstat 1`` tick left it unchanged, and the next tick
    is at most a second away (``read`` is a builtin: no process per look)."""
    tries = int(seconds / PROGRESS_POLL)
    return (f"n=0; while [ $n -lt {tries} ]; do c=; read c < {rec['dir']}/counter 2>/dev/null; "
            f"[ \"$c\" -gt {int(rec['counter'])} ] 2>/dev/null && break; "
            f"sleep {PROGRESS_POLL}; n=$((n+1)); done; ")


def gather_command(rec, wait=0):
    """The guest line that reads everything verify checks; with ``wait``, first up to that
    many seconds for the workload's counter to move (``progress_wait``)."""
    d = rec["dir"]
    cmd = (f"d={d}; if kill -0 {rec['pid']} 2>/dev/null; then echo vkv_alive=1; "
           # the workload rewrites the counter in place (`>` truncates first; renaming
           # would start a process per tick), so a read can land between truncate and write
           "else echo vkv_alive=0; fi; for i in 1 2 3 4 5; do c=$(cat $d/counter 2>/dev/null); "
           "[ -n \"$c\" ] && break; done; echo vkv_counter=$c; "
           "echo vkv_boottime=$(sysctl -n kern.boottime); echo vkv_now=$(date +%s); "
           "echo vkv_init=$(ps -o lstart= -p 1 2>/dev/null); "
           "echo vkv_sha=$( (sha256 -q $d/data || sha256sum $d/data) 2>/dev/null "
           "| cut -d' ' -f1)")
    if rec.get("net"):
        cmd += "; echo vkv_net=$(ifconfig vke0 2>&1 | head -n 1)"
    return (progress_wait(rec, wait) if wait else "") + cmd


def to_int(text):
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def parse(fields):
    m = _BOOTTIME.search(fields.get("boottime", ""))
    return {"alive": fields.get("alive") == "1", "counter": to_int(fields.get("counter")),
            "boottime": int(m.group(1)) if m else None, "now": to_int(fields.get("now")),
            "sha": fields.get("sha") or None, "net": fields.get("net"),
            "init": " ".join((fields.get("init") or "").split()) or None}


def load(session):
    try:
        with open(session.file(RECORD), encoding="utf-8") as fh:
            rec = json.load(fh)
        if isinstance(rec, dict) and rec.get("dir") and rec.get("pid"):
            return rec
    except (OSError, ValueError):
        pass
    raise Outcome.infrastructure(f"no workload record ({RECORD}) in session {session.dir}",
                                 "run verify --prepare before the first checkpoint")


def save(session, rec):
    tmp = session.file(RECORD + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(rec, fh, sort_keys=True)
    os.replace(tmp, session.file(RECORD))


def prepare(session, emitter, args):
    status = probe.session_status(session, emitter)
    token = secrets.token_hex(4)
    d = WORKLOAD_PREFIX + token
    fields = guest(session, emitter,
                   f"d={d}; rm -rf $d; mkdir -p $d && dd if=/dev/urandom of=$d/data bs=1024 "
                   f"count={DATA_KIB} 2>/dev/null; n=0; vmstat 1 2>/dev/null | while read x; "
                   "do n=$((n+1)); echo $n > $d/counter; done >/dev/null 2>&1 & "
                   "echo vkv_pid=$!", args.timeout)
    pid = to_int(fields.get("pid"))
    if not pid:
        raise Outcome.infrastructure("verify: the guest did not start the workload",
                                     "check that the guest has sh, vmstat, dd and /tmp")
    rec = {"dir": d, "pid": pid, "net": "-I" in (status.get("vkernel_argv") or []),
           "verified": 0}
    now = parse(guest(session, emitter, gather_command(rec), args.timeout))
    if not now["sha"] or now["boottime"] is None or now["now"] is None:
        stop_workload(session, emitter, rec, args.timeout)
        raise Outcome.infrastructure(
            "verify: the guest could not report its state "
            f"(sha256 {now['sha']}, boottime {now['boottime']}, clock {now['now']})",
            "check that the guest has sysctl, date and sha256 (or sha256sum)", fields=now,
            workload_removed=d)
    rec.update(sha=now["sha"], boottime=now["boottime"], now=now["now"], init=now["init"],
               counter=now["counter"] or 0, net_up=bool(now["net"] and "UP" in now["net"]))
    if rec["net"] and not rec["net_up"]:
        # otherwise every later verify would blame the restore for a link that never came up
        stop_workload(session, emitter, rec, args.timeout)
        raise Outcome.infrastructure(
            f"verify: vke0 is not up before the checkpoint ({now['net'] or 'no answer'})",
            "build the root image with the network configured (MakeRootImage(network=True), "
            "image --net) so rc brings vke0 up", fields=now, workload_removed=d)
    save(session, rec)
    emitter.info(workload=rec)
    return result_event("ok", f"workload started (pid {pid}, counter {rec['counter']}), "
                        f"{DATA_KIB} KiB written (sha256 {rec['sha'][:12]}…), "
                        f"uptime {rec['now'] - rec['boottime']} s", details=rec)


def check(emitter, checks, name, ok, text):
    checks.append({"name": name, "ok": ok, "text": text})
    emitter.human(f"{'ok  ' if ok else 'FAIL'}  {name}: {text}")
    emitter.event({"ev": "check", "name": name, "ok": ok, "text": text})


def verify(session, emitter, args):
    rec = load(session)
    now = parse(guest(session, emitter, gather_command(rec), args.timeout))
    if now["alive"] and (now["counter"] or 0) <= rec["counter"]:
        emitter.human(f"the counter is still {now['counter']}; "
                      f"giving the workload up to {PROGRESS_GRACE} s")
        now = parse(guest(session, emitter, gather_command(rec, wait=PROGRESS_GRACE),
                          args.timeout + PROGRESS_GRACE))
    checks = []
    check(emitter, checks, "workload-alive", now["alive"],
          f"pid {rec['pid']} " + ("runs" if now["alive"] else "is gone"))
    before, after = rec["counter"], now["counter"]
    check(emitter, checks, "workload-progressed", after is not None and after > before,
          f"counter {before}→{after if after is not None else 'unreadable'}")
    uptime = now["now"] - now["boottime"] if None not in (now["now"], now["boottime"]) else None
    was = rec["now"] - rec["boottime"]
    same_init = not (rec.get("init") and now["init"]) or now["init"] == rec["init"]
    continuous = same_init and uptime is not None and uptime >= was
    check(emitter, checks, "uptime-continuous", continuous,
          f"boottime {now['boottime']} (was {rec['boottime']}), uptime {uptime} s "
          f"(was {was} s)" + ("" if same_init else
                              f"; init started {now['init']} (was {rec['init']})"))
    check(emitter, checks, "files-intact", now["sha"] == rec["sha"],
          "sha256 matches" if now["sha"] == rec["sha"]
          else f"sha256 {now['sha'] or 'unreadable'}, was {rec['sha']}")
    if rec.get("net"):
        up = bool(now["net"] and "UP" in now["net"])
        check(emitter, checks, "network", up, f"vke0: {now['net'] or 'no answer'}")
    else:
        check(emitter, checks, "network", True, "not applicable: booted without -I")
    details = {"checks": checks, "counter": [before, after], "uptime": uptime,
               "pid": rec["pid"], "verified": rec.get("verified", 0) + 1}
    failed = next((c for c in checks if not c["ok"]), None)
    if failed:
        return result_event("failure", f"restore broke the guest: {failed['name']}: "
                            f"{failed['text']}", "kernel", details=details)
    rec.update(counter=after, now=now["now"], verified=details["verified"])
    save(session, rec)
    return result_event("ok", f"guest continued: workload alive (counter {before}→{after}), "
                        f"uptime {uptime} s, files intact", details=details)


def remove_workload(session, emitter, timeout=10.0):
    """Stop the workload and remove its directory from the guest's /tmp (``shutdown`` calls
    this while the guest still runs), so builds that reuse a root image do not pile up
    ``vkckpt-verify-*`` directories in it. Best effort: a guest that cannot answer (it
    panicked, it hangs) keeps them, and the shutdown goes on."""
    try:
        rec = load(session)
    except Outcome:
        return False
    if not WORKLOAD_DIR.fullmatch(str(rec["dir"])):
        return False     # not a record this module wrote: remove nothing
    return stop_workload(session, emitter, rec, timeout)


def stop_workload(session, emitter, rec, timeout):
    """Kill the workload and remove its directory (best effort; False when the guest did not
    answer). Also run when ``--prepare`` refuses after starting it: no record is saved then,
    so nothing else would."""
    try:
        guest(session, emitter, f"kill {int(rec['pid'])} 2>/dev/null; rm -rf {rec['dir']}",
              timeout)
    except (Outcome, TypeError, ValueError):
        return False
    return True


def run(args, emitter):
    session = Session(args.session)
    emitter.phase("verify")
    if args.prepare:
        return prepare(session, emitter, args)
    return verify(session, emitter, args)
