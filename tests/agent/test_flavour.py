"""What a vkernel binary accepts, read from its bytes (reference/dragonfly.md §23)."""
from buildbot_vkckpt.agent import flavour

GSOC_USAGE = (b"Usage: %s [-hsUv] [-c file] [-e name=value:name=value:...]\n"
              b"\t[-i file] [-I interface[:address1[:address2][/netmask]]] [-l cpulock]\n"
              b"\t[-m size] [-n numcpus[:lbits[:cbits]]]\n\t[-p file] [-r file]\n")
HANDLER = b"Checkpointing and continuing is not supported. Use SIGCKPTEXIT instead."


def binary(tmp_path, *strings, pad=0):
    path = tmp_path / "kernel.debug"
    path.write_bytes(b"\x7fELF\0" + b"\xcc" * pad + b"\0" + b"".join(s + b"\0" for s in strings))
    return path


def test_gsoc2013_has_no_d(tmp_path):
    f = flavour.detect(binary(tmp_path, b"c:hsvl:m:n:r:e:i:p:I:Ub:B:", GSOC_USAGE, HANDLER))
    assert f.name == "gsoc2013" and f.handler and not f.accepts("d") and f.accepts("i")
    assert not f.forwards_term and f.source == "getopt string"


def test_master_with_and_without_the_handler(tmp_path):
    f = flavour.detect(binary(tmp_path, b"c:hsvztTl:m:n:r:R:e:i:p:I:Ud"))
    assert (f.name, f.handler, f.accepts("d"), f.forwards_term) == ("master2020", False,
                                                                    True, True)
    f = flavour.detect(binary(tmp_path, b"c:hsvztTl:m:n:r:R:e:i:p:I:Ud", HANDLER))
    assert f.name == "master-with-port"


def test_strings_across_a_read_boundary_are_found(tmp_path):
    path = binary(tmp_path, b"c:hsvztTl:m:n:r:R:e:i:p:I:Ud", pad=flavour.CHUNK - 10)
    assert flavour.detect(path).name == "master2020"


def test_usage_text_alone_and_nothing_at_all(tmp_path):
    f = flavour.detect(binary(tmp_path, GSOC_USAGE))
    assert f.name == "unknown" and f.source == "usage text"
    assert {"h", "s", "U", "v", "c", "e", "i", "I", "l", "m", "n", "p", "r"} <= f.options
    assert not f.accepts("d")
    f = flavour.detect(binary(tmp_path, b"nothing here"))
    assert f.name == "unknown" and not f.accepts("d") and f.accepts("m")
    assert f.describe().startswith("unknown (options -")


def test_other_getopt_strings_are_not_the_vkernels(tmp_path):
    assert not flavour.is_vkernel_getopt("abc:d")
    assert not flavour.is_vkernel_getopt("r:")
    assert flavour.is_vkernel_getopt("c:hsvl:m:n:r:e:i:p:I:Ub:B:")
