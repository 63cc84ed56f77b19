"""collect (agent/collect.py): the session's record copied for upload, and the guest's results
tar cut from the second disk it was written onto."""
import io
import json
import tarfile

import pytest

from buildbot_vkckpt.agent import collect
from buildbot_vkckpt.agent.events import Emitter, Outcome


def results_disk(path, files, size=1 << 20):
    """What ``tar -cf /dev/vkd1`` leaves: a tar at the start of a bigger, zero-filled disk."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with open(path, "wb") as fh:
        fh.write(buf.getvalue())
        fh.truncate(size)


def test_the_tar_is_cut_at_its_end_not_at_the_disks(tmp_path):
    results_disk(tmp_path / "results.img", {"r/x": b"ok\n", "r/big": b"y" * 5000})
    out = collect.results_tar(str(tmp_path / "results.img"), str(tmp_path / "results.tar"))
    assert out == str(tmp_path / "results.tar")
    size = (tmp_path / "results.tar").stat().st_size
    assert size < 16 << 10 and size % 512 == 0
    with tarfile.open(out) as tar:
        assert tar.extractfile("r/x").read() == b"ok\n"


@pytest.mark.parametrize("content", [b"", b"\0" * 4096, b"garbage" * 100])
def test_a_disk_without_a_tar_gives_none(tmp_path, content):
    (tmp_path / "results.img").write_bytes(content)
    assert collect.results_tar(str(tmp_path / "results.img"), str(tmp_path / "t")) is None
    assert collect.results_tar(str(tmp_path / "missing.img"), str(tmp_path / "t")) is None


def test_collect_copies_what_the_session_has(tmp_path):
    session = tmp_path / "s"
    session.mkdir()
    (session / "console.log").write_text("boot\n")
    (session / "ledger.jsonl").write_text("")
    results_disk(session / "results.img", {"r/x": b"1"})
    out = io.StringIO()
    args = type("A", (), {"session": str(session), "dest": str(tmp_path / "out")})
    res = collect.run(args, Emitter(stream=out))
    assert res["details"]["files"] == ["console.log", "ledger.jsonl", "results.tar"]
    assert res["summary"] == f"collected 3 file(s) into {tmp_path / 'out'}"
    metrics = [json.loads(ln.split(" ", 1)[1]) for ln in out.getvalue().splitlines()
               if '"metric"' in ln]
    assert {m["name"]: m["value"] for m in metrics}["size:console.log"] == 5


def test_collect_without_a_session_is_infrastructure(tmp_path):
    args = type("A", (), {"session": str(tmp_path / "never-booted"), "dest": None})
    with pytest.raises(Outcome) as caught:
        collect.run(args, Emitter(stream=io.StringIO()))
    assert caught.value.kind.value == "infrastructure"
