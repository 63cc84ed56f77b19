"""Root's first shell is found whatever its prompt (reference §23): csh's ``vkernel# `` after
getty's autologin, sh's ``# `` after a ``login:`` line, or a prompt that is neither, proved by a
sentinel round trip on a quiet console. A boot that finds none says what the console last
showed. The guests are the simulated host's: root's csh is tcsh reading the image's
/root/.cshrc, and an image's files are edited the way an admin would edit a mounted image."""
import os
import re
import time

from buildbot_vkckpt.agent.login import PromptFinder

CSH_ROOT = re.compile(r"^(root:(?:[^:]*:){8})[^:\n]*$", re.M)


def root_shell(shell):
    """An edit of /etc/master.passwd: root's shell (field 10) becomes ``shell``."""
    def edit(text):
        new, n = CSH_ROOT.subn(lambda m: m.group(1) + shell, text)
        assert n == 1, text
        return new
    return edit


def csh_prompt(prompt):
    """An edit of /root/.cshrc: DragonFly's prompt line replaced by ``prompt``."""
    def edit(text):
        new, n = re.subn(r'^(\s*set prompt = ).*$', lambda m: f'{m.group(1)}"{prompt}"',
                         text, flags=re.M)
        assert n == 1, text
        return new
    return edit


def console_getty(spec):
    """An edit of /etc/ttys: the console line becomes ``spec`` and ttyv0's getty is off."""
    def edit(text):
        lines = [ln for ln in text.splitlines() if not ln.startswith(("console", "ttyv0"))]
        return "\n".join([spec, 'ttyv0\t"/usr/libexec/getty Pc"\tcons25\toff\tsecure']
                         + lines) + "\n"
    return edit


def boot(sim, image, quiet, timeout=5, silence=3):
    started = time.monotonic()
    run = sim.boot(image=image, timeout=timeout, silence=silence,
                   extra=("--prompt-quiet", quiet))
    return run, time.monotonic() - started


def console(sim):
    return (sim.session / "console.log").read_text(errors="replace")


def shutdown(sim):
    run = sim.agent("shutdown")
    assert run.returncode == 0, run


def test_image_makes_roots_shell_sh_and_boot_finds_its_prompt(sim):
    run = sim.boot()
    assert run.returncode == 0, run
    text = console(sim)
    assert "# exec /bin/sh" in text and "vkernel# " not in text, text[-800:]
    shutdown(sim)


def test_an_image_without_pw_keeps_csh_and_boot_finds_vkernel_hash(sim, tmp_path):
    """No pw(8) on the host: the image keeps root's csh, whose DragonFly prompt is
    ``vkernel# `` (no blank before the '#'); the boot knows it at once, no sentinel typed."""
    bindir = tmp_path / "bin-without-pw"
    bindir.mkdir()
    for tool in os.listdir(sim.host.bin):
        if tool != "pw":
            os.symlink(sim.host.bin / tool, bindir / tool)
    env = sim.env()
    env["PATH"] = f"{bindir}:/usr/bin:/bin"
    image = tmp_path / "csh.img"
    sim.images.append(image)
    run = sim.built.image_run(tmp_path / "image-session", image, env=env)
    assert run.returncode == 0, run
    warn = [e for e in run.events if e.get("ev") == "check" and e.get("name") == "root shell"]
    assert warn and warn[0]["warning"] and "stays csh" in warn[0]["text"], run
    run, _ = boot(sim, image, quiet=30)
    assert run.returncode == 0, run
    assert run.details["shells_found_by_sentinel"] == 0, run
    assert "vkernel# exec /bin/sh" in console(sim), console(sim)[-800:]
    shutdown(sim)


def test_sh_prompt_after_a_login_line(sim):
    """A console getty without autologin: the boot answers ``login:`` with root."""
    image = sim.image_with("login.img", {
        "etc/ttys": console_getty('console\t"/usr/libexec/getty Pc"\tcons25\ton\tsecure')})
    run, _ = boot(sim, image, quiet=30)
    assert run.returncode == 0, run
    assert run.details["shells_found_by_sentinel"] == 0, run
    assert re.search(r"login: root\r?\n", console(sim)), console(sim)[-800:]
    shutdown(sim)


def test_unknown_prompt_is_found_by_a_sentinel(sim):
    image = sim.image_with("prompt.img", {"etc/master.passwd": root_shell("/bin/csh"),
                                          "root/.cshrc": csh_prompt("root@vkernel:~> ")})
    run, _ = boot(sim, image, quiet=0.3)
    assert run.returncode == 0, run
    assert run.details["shells_found_by_sentinel"] == 1, run
    text = console(sim)
    assert "root@vkernel:~> " in text and "echo VKP''-" in text, text[-800:]
    assert "exec /bin/sh" in text
    shutdown(sim)


def test_no_shell_at_all_times_out_naming_what_it_saw(sim):
    """No getty on the console: the guest runs, nobody logs in, nothing answers."""
    image = sim.image_with("nogetty.img", {
        "etc/ttys": console_getty("console\tnone\tunknown\toff\tsecure")})
    run, took = boot(sim, image, quiet=0.2)
    assert run.returncode == 1 and run.result["kind"] == "timeout", run
    assert ("no shell prompt recognised; 3 sentinel(s) typed on a quiet console were not "
            "answered") in run.summary, run.summary
    assert "; last line: " in run.summary and took < 15
    shutdown(sim)


def test_prompt_finder_rules():
    f = PromptFinder("t0k", quiet=1.0)
    assert f.deadline(10.0) is None                   # before the boot milestones
    f.on_event("milestone", {"name": "mounting_root"})
    assert f.deadline(10.0) == 11.0
    typed = [f.probe(), f.probe()]
    assert typed[0] == b"echo VKP''-t0k-1\r"
    assert not f.on_line("echo VKP''-t0k-1")           # the echo of what was typed
    assert f.on_line("weird> VKP-t0k-1")               # a late answer after a prompt
    assert f.answered == 1 and not f.on_line("VKP-t0k-2")
    f.probe(), f.probe(), f.probe()
    assert f.deadline(10.0) is None                    # MAX_PROBES per shell
    f.next_shell()
    assert f.deadline(10.0) == 11.0
    f.on_event("rebooting")
    assert f.deadline(10.0) is None


def test_prompt_finder_describes_how_far_the_boot_got():
    f = PromptFinder("t", quiet=1.0)
    assert f.describe() == "the boot did not reach the root mount or getty"
    f.on_event("getty_banner")
    assert f.describe() == "no shell prompt recognised"
    f.probe()
    assert f.describe().startswith("no shell prompt recognised; 1 sentinel(s) typed")
    assert PromptFinder("t", quiet=0).deadline(5.0) is None     # sentinels turned off
