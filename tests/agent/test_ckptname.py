"""kern.ckptfile as the kernel expands it for one process (reference §15, §23)."""
import os

from buildbot_vkckpt.agent.ckptname import expand, p_comm


def test_escapes_and_unknown_ones_dropped():
    assert expand("%N.ckpt", "kernel", 42, 0) == "kernel.ckpt"
    assert expand("/var/ckpt/%U/%N-%P.%%", "sleep", 7, 1001) == "/var/ckpt/1001/sleep-7.%"
    assert expand("%X%N", "k", 1, 0) == "k"
    assert expand("trailing%", "k", 1, 0) == "trailing%"


def test_p_comm_is_the_executed_file_resolved_and_cut(tmp_path):
    real = tmp_path / "kernel.debug"
    real.write_text("")
    link = tmp_path / "vkernel"
    os.symlink(real, link)
    assert p_comm(str(link)) == "kernel.debug"
    assert p_comm(str(tmp_path / ("x" * 40))) == "x" * 16
