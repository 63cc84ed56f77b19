"""``pw`` on the simulated host (``usr.sbin/pw``): the two forms an image build needs.

::

    pw [-V etcdir] usermod NAME -s SHELL     root's shell in a mounted image
    pw [-V etcdir] usershow NAME             the master.passwd line

``-V etcdir`` edits ``etcdir/master.passwd`` (and regenerates ``passwd``) instead of the host's.
Unknown user: ``pw: no such user `NAME'``, exit 67 (EX_NOUSER); usage errors exit 64.
"""
import os
import sys

EX_USAGE, EX_NOUSER, EX_IOERR = 64, 67, 74
USAGE = "usage: pw [user|group|lock|unlock] [add|del|mod|show|next] [help|switches/values]"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    from .procname import set_comm
    set_comm("pw")
    if argv and argv[0] == "pw":
        argv = argv[1:]
    etc = "/etc"
    if argv[:1] == ["-V"] and len(argv) > 1:
        etc, argv = argv[1], argv[2:]
    if len(argv) < 2:
        print(USAGE, file=sys.stderr)
        return EX_USAGE
    verb, name, rest = argv[0], argv[1], argv[2:]
    if verb not in ("usermod", "usershow"):
        print(f"pw: {verb}: not supported by this host's pw", file=sys.stderr)
        return EX_USAGE
    path = os.path.join(etc, "master.passwd")
    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        print(f"pw: {path}: {exc.strerror}", file=sys.stderr)
        return EX_IOERR
    index = next((i for i, ln in enumerate(lines) if ln.split(":", 1)[0] == name), None)
    if index is None:
        print(f"pw: no such user `{name}'", file=sys.stderr)
        return EX_NOUSER
    fields = lines[index].split(":")
    if verb == "usershow":
        print(lines[index])
        return 0
    shell = None
    while rest:
        opt = rest.pop(0)
        if opt == "-s" and rest:
            shell = rest.pop(0)
        else:
            print(f"pw: unsupported option {opt}", file=sys.stderr)
            return EX_USAGE
    if shell is not None and len(fields) >= 10:
        fields[9] = shell
    lines[index] = ":".join(fields)
    _write(path, "\n".join(lines) + "\n", 0o600)
    passwd = "".join(":".join(f[:4] + f[7:]) + "\n" for f in (ln.split(":") for ln in lines)
                     if len(f) >= 10)
    _write(os.path.join(etc, "passwd"), passwd, 0o644)
    return 0


def _write(path, text, mode):
    tmp = path + ".pw"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
