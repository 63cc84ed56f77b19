"""getopt(3) of DragonFly's libc, as the simulated tools parse with it (simhost/bsdgetopt.py)."""
import pytest

from buildbot_vkckpt.simhost.bsdgetopt import GetoptError, getopt


def test_flags_arguments_and_operands():
    assert getopt(["-ab", "-cval", "-c", "v2", "file", "-a"], "abc:") == (
        [("-a", ""), ("-b", ""), ("-c", "val"), ("-c", "v2")], ["file", "-a"])


def test_double_dash_and_lone_dash_end_the_options():
    assert getopt(["-a", "--", "-b"], "ab") == ([("-a", "")], ["-b"])
    assert getopt(["-a", "-", "-b"], "ab") == ([("-a", "")], ["-", "-b"])


@pytest.mark.parametrize("args, msg, opt", [
    (["-x"], "illegal option -- x", "x"),
    (["-a:"], "illegal option -- :", ":"),
    (["-ac"], "option requires an argument -- c", "c"),
])
def test_getopt_c_diagnostics(args, msg, opt):
    with pytest.raises(GetoptError) as err:
        getopt(args, "ac:")
    assert (err.value.msg, err.value.opt) == (msg, opt)


def test_the_vkernel_prints_the_diagnostic_after_its_name(tmp_path):
    from buildbot_vkckpt.simhost import flavours, vkernel
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert vkernel.parse_args("/boot/kernel", ["-m"], flavours.get("gsoc2013")) == "usage"
    assert err.getvalue() == "kernel: option requires an argument -- m\n"
