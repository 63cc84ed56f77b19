"""Layout and shared state of one simulated DragonFly host.

::

    ROOT/
      src/          fake DragonFly source tree, a git repository (tree.py)
      bin/          sandbox PATH: make, sysctl, vnconfig, fdisk, disklabel, newfs, mount,
                    umount, kldload, ifconfig, checkpt (wrappers around tool modules)
      state/        host.json (sysctls, vn units, mounts, taps, modules) and faults.json
      var/vkernel/  what /var/vkernel is on a real host
      obj/          the object directory the demo passes as MAKEOBJDIRPREFIX
      hostproc/     empty; a harness that hides /proc bind-mounts the real one here, and the
                    simulator's own tools (ps, umount, ...) read it when it is a mount point
      var/log/messages  host kprintf/syslog lines (checkpointing to ..., checkpoint failed ...)

Every wrapper exports ``VKCKPT_SIMHOST=ROOT`` so a tool finds its host with ``SimHost.from_env()``.
State changes go through ``update_state`` under an exclusive lock, so concurrent tools never
lose an update and a test can assert that nothing leaked.
"""
import contextlib
import fcntl
import json
import os
import shlex
import sys
from pathlib import Path

from . import flavours, launch

ENV_VAR = "VKCKPT_SIMHOST"

# tool name on the sandbox PATH -> module of this package run with ``TOOL ARGS...`` (launch.py)
TOOLS = {
    "make": "bmake",
    "sysctl": "hosttools",
    "vnconfig": "hosttools",
    "fdisk": "hosttools",
    "disklabel": "hosttools",
    "newfs": "hosttools",
    "mount": "hosttools",
    "umount": "hosttools",
    "fsck": "hosttools",
    "kldload": "hosttools",
    "ifconfig": "hosttools",
    "checkpt": "hosttools",
    "pw": "hostpw",
    "ps": "hostps",
    "sleep": "hostsleep",
}

DEFAULT_STATE = {
    "flavour": flavours.DEFAULT,   # gsoc2013 | master2020 | master-with-port (flavours.py)
    "host_kernel": flavours.default_host_kernel(flavours.DEFAULT),   # gsoc | stock
    "sysctl": {
        "vm.vkernel_enable": 1,
        "hw.vmm.enable": 0,
        "hw.ncpu": 2,
        "kern.ckptgroup": 0,
        "kern.ckptfile": "%N.ckpt",
        "kern.sugid_coredump": 0,
        "kern.osrelease": "5.9-DEVELOPMENT",
    },
    "vn": {"vn0": None, "vn1": None, "vn2": None, "vn3": None},  # unit -> covered file or None
    "mounts": {},      # mount point -> device
    "taps": {},        # tap name -> owner description
    "modules": [],     # loaded kernel modules
}


def proc_dir(environ=None):
    """Where the simulator reads process information (see ``SimHost.proc_dir``)."""
    environ = os.environ if environ is None else environ
    root = environ.get(ENV_VAR)
    if root and os.path.ismount(os.path.join(root, "hostproc")):
        return os.path.join(root, "hostproc")
    return "/proc"


class SimHost:
    def __init__(self, root):
        self.root = Path(root).resolve()

    @classmethod
    def from_env(cls, environ=None):
        environ = os.environ if environ is None else environ
        root = environ.get(ENV_VAR)
        if not root:
            raise RuntimeError(f"{ENV_VAR} is not set: not running on a simulated host")
        return cls(root)

    # --- layout ----------------------------------------------------------------------------
    @property
    def src(self):
        return self.root / "src"

    @property
    def bin(self):
        return self.root / "bin"

    @property
    def state_dir(self):
        return self.root / "state"

    @property
    def var_vkernel(self):
        return self.root / "var" / "vkernel"

    @property
    def obj(self):
        return self.root / "obj"

    def host_path(self, path):
        """Where DragonFly path ``path`` lives on this host: ``/usr/obj`` and ``/var/vkernel``
        are inside ROOT (``obj/``, ``var/vkernel/``); any other path is itself."""
        text = str(path)
        for dfly, here in (("/usr/obj", self.obj), ("/var/vkernel", self.var_vkernel)):
            if text == dfly or text.startswith(dfly + "/"):
                return str(here) + text[len(dfly):]
        return text

    def env(self, base=None):
        """Environment for a process that should see this host's tools first."""
        env = dict(os.environ if base is None else base)
        env[ENV_VAR] = str(self.root)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
        # each simulated host is its own machine: the agent's host-wide session registry
        # (VKCKPT_STATE_DIR, read by the agent like any user's setting) is this host's own,
        # so one host's cleanup-stale never reaches into another's sessions
        env["VKCKPT_STATE_DIR"] = str(self.registry)
        return env

    @property
    def registry(self):
        return self.root / "var" / "db" / "vkckpt"

    @property
    def hostproc(self):
        return self.root / "hostproc"

    @property
    def messages(self):
        return self.root / "var" / "log" / "messages"

    def proc_dir(self):
        """Where this host's tools read process information: ROOT/hostproc when a harness
        mounted the real proc there (it hid /proc from the code under test), else /proc."""
        if os.path.ismount(self.hostproc):
            return str(self.hostproc)
        return "/proc"

    def log_message(self, text):
        """A host kernel kprintf/log() line: syslog's /var/log/messages, never a console."""
        import time
        self.messages.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%b %e %H:%M:%S")
        with open(self.messages, "a") as fh:
            fh.write(f"{stamp} {os.uname().nodename.split('.')[0]} kernel: {text}\n")

    def flavour(self):
        return self.load_state().get("flavour") or flavours.DEFAULT

    def host_kernel(self):
        state = self.load_state()
        return state.get("host_kernel") or flavours.default_host_kernel(
            state.get("flavour") or flavours.DEFAULT)

    def create(self, python=None, flavour=None, host_kernel=None):
        """Create the directories, the tool wrappers and a fresh state (not the source tree).
        ``flavour`` / ``host_kernel`` set the host's flavour (default: the contract's)."""
        if flavour is not None:
            flavours.get(flavour)
        if host_kernel is not None and host_kernel not in flavours.HOST_KERNELS:
            raise ValueError(f"unknown host kernel {host_kernel!r} (gsoc or stock)")
        for d in (self.bin, self.state_dir, self.var_vkernel, self.obj, self.hostproc):
            d.mkdir(parents=True, exist_ok=True)
        self.write_tools(python)
        if not self.state_file.exists():
            self.save_state(DEFAULT_STATE)
        if flavour is not None or host_kernel is not None:
            with self.update_state() as state:
                if flavour is not None:
                    state["flavour"] = flavour
                    state["host_kernel"] = flavours.default_host_kernel(flavour)
                if host_kernel is not None:
                    state["host_kernel"] = host_kernel
        if not self.faults_file.exists():
            self.set_faults({})
        return self

    def write_tools(self, python=None):
        python = python or sys.executable
        # the host's own python3, as ``pkg install python3`` gives a DragonFly host: the
        # interpreter binary itself, not this machine's PATH entry (a version manager's shim
        # there costs every agent command a dozen shell processes) nor a venv
        link = self.bin / "python3"
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.realpath(python))
        for tool, module in TOOLS.items():
            path = self.bin / tool
            path.write_text(
                "#!/bin/sh\n"
                f"{ENV_VAR}={shlex.quote(str(self.root))}; export {ENV_VAR}\n"
                + launch.exec_line(module, f'{tool} "$@"', python))
            path.chmod(0o755)

    # --- state -----------------------------------------------------------------------------
    @property
    def state_file(self):
        return self.state_dir / "host.json"

    @property
    def faults_file(self):
        return self.state_dir / "faults.json"

    @contextlib.contextmanager
    def _locked(self):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def load_state(self):
        with self._locked():
            return self._read_state()

    def _read_state(self):
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return json.loads(json.dumps(DEFAULT_STATE))

    def save_state(self, state):
        with self._locked():
            self._write_json(self.state_file, state)

    @contextlib.contextmanager
    def update_state(self):
        """``with host.update_state() as st: st[...] = ...`` — read, modify, write atomically."""
        with self._locked():
            state = self._read_state()
            yield state
            self._write_json(self.state_file, state)

    @staticmethod
    def _write_json(path, data):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)

    # --- faults ----------------------------------------------------------------------------
    def faults(self):
        """Injected faults: ``{name: argument-or-None}``."""
        try:
            return json.loads(self.faults_file.read_text())
        except (OSError, ValueError):
            return {}

    def set_faults(self, faults):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._write_json(self.faults_file, dict(faults))

    def fault(self, name):
        """The argument of fault ``name`` ("" when given without one), or None when not injected."""
        faults = self.faults()
        if name not in faults:
            return None
        return faults[name] if faults[name] is not None else ""
