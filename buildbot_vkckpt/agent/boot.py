"""``boot``: start the detached supervisor and stream the vkernel's boot until the shell answers."""
import os
import resource
import select
import shutil
import sys
import traceback

from . import client, flavour, supervisor
from .events import Outcome
from .hostcmd import sysctl
from .ledger import Ledger
from .session import SUPERVISOR_LOG, Session
from .sizes import parse_size

RESULTS_SIZE = 64 << 20
MEMIMG = "memimg"
KERNEL_DIR = "kernel"      # the session's own copy of the vkernel binary lives here
START_WAIT = 15.0
ORPHAN_TIMEOUT = 1800.0
VMM_FIX = ("sysctl hw.vmm.enable=0 on the host (this vkernel has no -d; a vkernel using VMM "
           "cannot be checkpointed)")


def add_arguments(p):
    p.add_argument("--kernel", required=True, help="vkernel binary (kernel.debug or kernel)")
    p.add_argument("--image", required=True, help="root image built by `image`")
    p.add_argument("--memory", default="256m")
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--net", default=None, help="-I argument, e.g. auto:bridge0")
    p.add_argument("--vmm", action="store_true", help="run with VMM (omit -d); not checkpointable")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="fail when the boot makes no progress for this long (s)")
    p.add_argument("--silence", type=float, default=120.0,
                   help="fail when the console is silent for this long (s)")
    p.add_argument("--results-size", default="64m")
    p.add_argument("--prompt-quiet", type=float, default=5.0,
                   help="after the boot milestones, a console quiet this long with no prompt "
                        "recognised is asked for a shell with a sentinel (s)")
    p.add_argument("--orphan-timeout", type=float, default=ORPHAN_TIMEOUT,
                   help="the supervisor stops the vkernel and exits when no agent command "
                        "reached it for this long (s)")
    p.add_argument("--console-times", action="store_true",
                   help="record when each console read arrived (console.times: monotonic "
                        "time, offset, length), for benchmarks")


def vkernel_argv(args, session, flav, kernel=None, vmm_enable=None):
    """The vkernel's command line, with only options this binary accepts (reference §23)."""
    argv = [kernel or os.path.abspath(args.kernel), "-m", args.memory, "-n", str(args.cpus),
            "-r", os.path.abspath(args.image), "-r", session.results_img,
            "-p", session.pidfile]
    if not args.vmm:
        # VMM off: -d where the binary has it; otherwise only the host decides (GSoC 2013)
        if flav.accepts("d"):
            argv.append("-d")
        # the session's own memory image: /var/vkernel/memimg.N is free for any vkernel the
        # moment a checkpointed one exits, and a thaw needs the file unchanged (§17, §19)
        argv += ["-i", session.file(MEMIMG)]
    if args.net:
        argv += ["-I", args.net]
    missing = sorted({a[1] for a in argv[1:] if a.startswith("-") and len(a) == 2}
                     - flav.options)
    if missing:
        raise Outcome.infrastructure(
            f"this vkernel ({flav.describe()}) lacks option(s) "
            + ", ".join("-" + m for m in missing) + " the session needs",
            "boot a vkernel with the standard options (-m -n -r -p -i -I)",
            flavour=flav.to_json())
    return argv


def vmm_state(args, flav):
    """How VMM ends up: (text, off?) — off with -d, or when the host has hw.vmm.enable=0."""
    if args.vmm:
        return "on (--vmm)", False
    if flav.accepts("d"):
        return "off (-d)", True
    value = sysctl("hw.vmm.enable")
    if value in (None, "0"):
        return f"off (hw.vmm.enable={value or 'missing'}; this vkernel has no -d)", True
    return f"on (hw.vmm.enable={value}; this vkernel has no -d)", False


def detect_flavour(args):
    try:
        return flavour.detect(os.path.abspath(args.kernel))
    except OSError as exc:
        raise Outcome.infrastructure(f"cannot read the vkernel binary {args.kernel}: "
                                     f"{exc.strerror or exc}",
                                     "fix --kernel or the file's permissions") from exc


def copy_kernel(session, ledger, kernel):
    """The session runs its own copy: the next buildkernel deletes the obj dir, and a thaw
    reopens the checkpointed vkernel's binary by file handle (reference §23). The basename is
    kept, because it is p_comm and so %N in kern.ckptfile."""
    src = os.path.realpath(kernel)
    dest_dir = session.file(KERNEL_DIR)
    dest = os.path.join(dest_dir, os.path.basename(src))
    os.makedirs(dest_dir, exist_ok=True)
    ledger.allocate("file", path=dest, role="kernel copy")
    tmp = dest + ".tmp"
    shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)
    return dest


def check_inputs(args):
    kernel = os.path.abspath(args.kernel)
    if not os.path.isfile(kernel) or not os.access(kernel, os.X_OK):
        raise Outcome.infrastructure(f"no vkernel binary at {kernel}",
                                     "build the kernel first (BuildKernel) or fix --kernel")
    if not os.path.isfile(args.image):
        raise Outcome.infrastructure(f"no root image at {os.path.abspath(args.image)}",
                                     "build it first (vkckpt-agent image)")
    try:
        parse_size(args.memory)
        parse_size(args.results_size)
    except ValueError as exc:
        raise Outcome.infrastructure(str(exc), "pass sizes such as 256m or 2g") from exc


def create_results_disk(session, ledger, size):
    """A sparse second disk (vkd1) that the guest writes its results tar to."""
    # kept on release: collect (which runs after shutdown) reads the guest's tar from it
    entry = ledger.allocate("file", path=session.results_img, role="results disk", keep=True)
    with open(session.results_img, "wb") as fh:
        fh.truncate(size)
    return entry


def start_supervisor(session, argv, ledger, options=None):
    """Double fork + setsid: the supervisor survives the step's process group being killed."""
    entry = ledger.allocate("supervisor", socket=session.socket_path)
    ready_r, ready_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked children
        code = 1
        try:
            os.close(ready_r)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            _detach_stdio(session)
            raise_core_limit()
            code = supervisor.main(session.dir, argv, ready_fd=ready_w, entry=entry,
                                   options=options)
        except BaseException:  # noqa: BLE001 - the log is the only place left to tell
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(ready_w)
    os.waitpid(pid, 0)
    try:
        readable, _, _ = select.select([ready_r], [], [], START_WAIT)
        line = os.read(ready_r, 100).decode() if readable else ""
    finally:
        os.close(ready_r)
    if not line.startswith("ready"):
        raise Outcome.infrastructure(
            "the session supervisor did not start",
            f"see {os.path.join(session.dir, SUPERVISOR_LOG)}")
    return int(line.split()[1])


def raise_core_limit():
    """A checkpoint is a core dump: with a soft RLIMIT_CORE of 0 (a common default) the
    vkernel's SIGCKPTEXIT fails with ERANGE (reference §14). The supervisor raises its soft
    limit to the hard one, and the vkernel and ``checkpt`` inherit it."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    except (OSError, ValueError):
        pass  # probe reports the limit the vkernel really has


def _detach_stdio(session):  # pragma: no cover - runs in the supervisor
    devnull = os.open(os.devnull, os.O_RDONLY)
    log = os.open(session.file(SUPERVISOR_LOG), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)


def run(args, emitter):
    session = Session(args.session).ensure()
    ledger = Ledger(session.dir)
    emitter.phase("boot")
    check_inputs(args)
    if client.supervisor_reachable(session):
        raise Outcome.infrastructure(f"a supervisor already runs in session {session.dir}",
                                     "run shutdown for this session first")
    emitter.info(session=session.dir, console_log=session.console_log, events=session.events,
                 ledger=ledger.path)
    flav = detect_flavour(args)
    vmm, vmm_off = vmm_state(args, flav)
    emitter.info(flavour=flav.name, options=flav.to_json()["options"],
                 options_from=flav.source, handler=flav.handler, vmm=vmm)
    if not vmm_off and not args.vmm:
        emitter.event({"ev": "check", "name": "vmm", "ok": False, "warning": True,
                       "text": f"the vkernel will use VMM: {vmm}", "fix": VMM_FIX})
    vkernel_argv(args, session, flav)  # refuse before anything is allocated
    create_results_disk(session, ledger, parse_size(args.results_size))
    argv = vkernel_argv(args, session, flav, kernel=copy_kernel(session, ledger, args.kernel))
    emitter.human("starting " + " ".join(argv))
    sup_pid = start_supervisor(session, argv, ledger, options={
        "orphan_timeout": args.orphan_timeout,
        "info": {"flavour": flav.name, "flavour_options": flav.to_json()["options"],
                 "flavour_source": flav.source, "handler_in_binary": flav.handler,
                 "forwards_term": flav.forwards_term, "vmm": vmm,
                 "kernel_source": os.path.realpath(args.kernel)}})
    emitter.info(supervisor_pid=sup_pid)
    wait = args.timeout + args.silence + 60
    return client.request(session, {"op": "boot", "timeout": args.timeout,
                                    "silence": args.silence, "quiet": args.prompt_quiet,
                                    "console_times": args.console_times},
                          emitter, timeout=wait)
