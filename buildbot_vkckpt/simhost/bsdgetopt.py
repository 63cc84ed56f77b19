"""getopt(3) as DragonFly's libc has it (lib/libc/stdlib/getopt.c, from FreeBSD): the simulated
tools parse their arguments with it.

Options end at the first argument that is not one, at ``-`` or after ``--``; ``-ab`` is ``-a
-b``; an option followed by ``:`` in the option string takes the rest of its argument or the next
one. The diagnostics are getopt.c's (``illegal option -- x``, ``option requires an argument --
x``); the tool prefixes its name, as getopt's ``_getprogname()`` does. Python's own ``getopt``
words them differently and imports ``gettext``, a fifth of a simulated tool's start-up.
"""


class GetoptError(Exception):
    def __init__(self, msg, opt):
        super().__init__(msg)
        self.msg = msg
        self.opt = opt


def getopt(args, optstring):
    """``([("-x", value or ""), ...], operands)``; raises GetoptError."""
    opts = []
    args = list(args)
    while args and args[0].startswith("-") and args[0] != "-":
        arg = args.pop(0)
        if arg == "--":
            break
        i = 1
        while i < len(arg):
            c = arg[i]
            at = optstring.find(c)
            if c == ":" or at < 0:
                raise GetoptError(f"illegal option -- {c}", c)
            if optstring[at + 1:at + 2] == ":":
                value = arg[i + 1:]
                if not value:
                    if not args:
                        raise GetoptError(f"option requires an argument -- {c}", c)
                    value = args.pop(0)
                opts.append(("-" + c, value))
                break
            opts.append(("-" + c, ""))
            i += 1
    return opts, args
