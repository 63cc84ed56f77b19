"""agent results: the suite's TAP and failing tests' log tails read from the results disk."""
import io
import json
import tarfile

from buildbot_vkckpt.agent.cli import main
from buildbot_vkckpt.agent.events import MAX_LINE
from buildbot_vkckpt.agent.results import frames

TAP = "TAP version 13\n1..2\nok 1 - memory\nnot ok 2 - pipe # TODO xfail: pipes\n"


def disk(tmp_path, files, size=1 << 20):
    """A results.img as the guest leaves it: a tar at the start of a larger blank disk."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    img = tmp_path / "results.img"
    img.write_bytes(buf.getvalue().ljust(size, b"\0"))
    return tmp_path


def run(session):
    out = io.StringIO()
    rc = main(["results", "--session", str(session)], stream=out)
    lines = out.getvalue().splitlines()
    events = [json.loads(ln[len("@@vkckpt "):]) for ln in lines if ln.startswith("@@vkckpt ")]
    return rc, events, lines


def test_tap_and_logs_of_tests_that_did_not_pass(tmp_path):
    session = disk(tmp_path, {"results.tap": TAP.encode(),
                              "memory/result": b"PASS\n", "memory/runner.log": b"ok\n",
                              "pipe/result": b"FAIL: gone\n",
                              "pipe/runner.log": b"".join(b"line %d\n" % i for i in range(50)),
                              "pipe/output.log": b"pipe: FAIL: gone\n"})
    rc, events, _ = run(session)
    assert rc == 0
    tap = [ln for ev in events if ev["ev"] == "tap" for ln in ev["lines"]]
    assert tap == TAP.splitlines()
    logs = {(ev["test"], ev["file"]): ev["lines"] for ev in events if ev["ev"] == "test_log"}
    assert set(logs) == {("pipe", "runner.log"), ("pipe", "output.log")}
    assert logs["pipe", "runner.log"] == [f"line {i}" for i in range(30, 50)]
    assert events[-1]["details"]["tap_lines"] == 4


def test_blank_disk_and_missing_tap_are_infrastructure(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "results.img").write_bytes(bytes(1 << 16))
    rc, events, _ = run(tmp_path / "a")
    assert rc == 4 and "blank" in events[-1]["summary"]
    (tmp_path / "b").mkdir()
    rc, events, _ = run(disk(tmp_path / "b", {"memory/result": b"PASS\n"}))
    assert rc == 4 and "no results.tap" in events[-1]["summary"]
    rc, events, _ = run(tmp_path / "nosession")
    assert rc == 4 and "no results disk" in events[-1]["summary"]


def test_garbage_disk_never_crashes(tmp_path):
    (tmp_path / "results.img").write_bytes(b"ustar" * 5000)
    rc, events, _ = run(tmp_path)
    assert rc == 4 and events[-1]["ev"] == "result"


def test_long_tap_is_framed_under_the_line_limit(tmp_path):
    tap = "".join(f"ok {i} - test{i} # " + "x" * (i % 1500) + "\n" for i in range(400))
    rc, events, lines = run(disk(tmp_path, {"results.tap": tap.encode()}))
    assert rc == 0
    assert all(len(ln.encode()) < MAX_LINE for ln in lines)
    assert len([ln for ev in events if ev["ev"] == "tap" for ln in ev["lines"]]) == 400
    assert list(frames([])) == [] and list(frames(["a"] * 3, budget=1)) == [["a"]] * 3
