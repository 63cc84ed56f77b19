"""The agent's zipapp (agent/zipapp.py): the same bytes every build, and it runs."""
import hashlib
import subprocess
import sys

from buildbot_vkckpt.agent.zipapp import build_zipapp


def test_zipapp_is_deterministic_and_runs(tmp_path):
    h1 = build_zipapp(tmp_path / "a.pyz")
    h2 = build_zipapp(tmp_path / "b.pyz")
    assert h1 == h2 == hashlib.sha256((tmp_path / "a.pyz").read_bytes()).hexdigest()
    p = subprocess.run([sys.executable, str(tmp_path / "a.pyz"), "status", "--session",
                        str(tmp_path / "s")], stdout=subprocess.PIPE, cwd=tmp_path, timeout=30)
    assert p.returncode == 0
    assert b'@@vkckpt {"ev":"result","status":"ok"' in p.stdout


def test_every_module_carries_its_bytecode_and_the_host_uses_it(tmp_path):
    import importlib.util
    import zipfile
    build_zipapp(tmp_path / "a.pyz")
    with zipfile.ZipFile(tmp_path / "a.pyz") as zf:
        names = set(zf.namelist())
        sources = [n for n in names if n.endswith(".py") and n != "__main__.py"]
        assert len(sources) > 20
        for name in sources:
            assert name + "c" in names, f"{name} has no bytecode"
            pyc = zf.read(name + "c")
            assert pyc[:4] == importlib.util.MAGIC_NUMBER
            assert int.from_bytes(pyc[4:8], "little") == 0b11     # hash-based, checked
            assert pyc[8:16] == importlib.util.source_hash(zf.read(name)), name
    # the bytecode alone runs the agent: with every source replaced by one that refuses to
    # run, and the hash check off, --help still works (and fails once the check is on)
    blind = tmp_path / "blind.pyz"
    with zipfile.ZipFile(tmp_path / "a.pyz") as src, zipfile.ZipFile(blind, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename in sources:
                data = b"raise SystemExit('source compiled')\n"
            dst.writestr(info, data)
    for check, ok in (("never", True), ("always", False)):
        p = subprocess.run([sys.executable, "-S", "--check-hash-based-pycs", check,
                            str(blind), "--help"], capture_output=True, text=True,
                           cwd=tmp_path, timeout=30)
        assert (p.returncode == 0) is ok, (check, p.stdout, p.stderr)
        assert ("source compiled" not in p.stderr) is ok


def test_the_bytes_do_not_depend_on_the_building_process(tmp_path):
    """Set constants are ordered by string hashes, which differ per process: the bytecode is
    compiled with a fixed seed, so two masters upload the same agent."""
    code = ("import sys; from buildbot_vkckpt.agent.zipapp import build_zipapp; "
            "print(build_zipapp(sys.argv[1]))")
    digests = {subprocess.run([sys.executable, "-c", code, str(tmp_path / f"{seed}.pyz")],
                              env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True, timeout=60).stdout.strip()
               for seed in ("1", "2", "3")}
    assert len(digests) == 1 and len(digests.pop()) == 64
