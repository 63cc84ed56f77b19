"""``collect``: copy the session's record (console, ledger, events, results disk) for upload."""
import os
import shutil

from .events import Outcome, result_event
from .session import CONSOLE_LOG, EVENTS, RESULTS_IMG, STATE, SUPERVISOR_LOG, Session
from .ledger import LEDGER_NAME

FILES = (CONSOLE_LOG, LEDGER_NAME, EVENTS, STATE, SUPERVISOR_LOG)


def add_arguments(p):
    p.add_argument("--dest", default=None, help="directory to copy into (default SESSION/collect)")


def results_tar(results_img, dest):
    """The guest writes a tar straight onto vkd1: keep the image's used part as results.tar."""
    try:
        with open(results_img, "rb") as src:
            head = src.read(512)
            if len(head) < 512 or head[257:262] != b"ustar":
                return None
            src.seek(0)
            with open(dest, "wb") as out:
                zero_blocks = 0
                while zero_blocks < 2:
                    block = src.read(512)
                    if len(block) < 512:
                        break
                    out.write(block)
                    zero_blocks = zero_blocks + 1 if block == bytes(512) else 0
        return dest
    except OSError:
        return None


def run(args, emitter):
    session = Session(args.session)
    if not os.path.isdir(session.dir):
        raise Outcome.infrastructure(f"no session dir {session.dir}",
                                     "boot a vkernel first (nothing to collect)")
    dest = os.path.abspath(args.dest or session.file("collect"))
    os.makedirs(dest, exist_ok=True)
    copied = []
    for name in FILES:
        src = session.file(name)
        if os.path.isfile(src):
            shutil.copyfile(src, os.path.join(dest, name))
            copied.append(name)
    tar = results_tar(session.file(RESULTS_IMG), os.path.join(dest, "results.tar"))
    if tar:
        copied.append("results.tar")
    for name in copied:
        emitter.metric(f"size:{name}", os.path.getsize(os.path.join(dest, name)), "bytes")
    emitter.info(collected=copied, dest=dest)
    return result_event("ok", f"collected {len(copied)} file(s) into {dest}",
                        details={"files": copied, "dest": dest})
