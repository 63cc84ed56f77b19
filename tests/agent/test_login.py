"""Root's first shell is found whatever its prompt (reference §23): csh's ``vkernel# `` after
getty's autologin, sh's ``# ``, or a prompt that is neither, proved by a sentinel round trip on
a quiet console. A boot that finds none says what the console last showed."""
import time

from .test_session import assert_released, boot, result_of


def run_boot(run_agent, tmp_path, fake_kernel, mode, prompt=None, **extra):
    session, image = tmp_path / "s", tmp_path / "root.img"
    image.write_bytes(b"\0" * 4096)
    env = {"FAKE_VK_MODE": mode}
    if prompt is not None:
        env["FAKE_VK_PROMPT"] = prompt
    argv = ["boot", "--session", session, "--kernel", fake_kernel, "--image", image,
            "--timeout", "5", "--silence", "2"]
    for k, v in extra.items():
        argv += [f"--{k.replace('_', '-')}", v]
    started = time.monotonic()
    p = run_agent(*argv, env=env)
    res, _ = result_of(p)
    return p, res, session, time.monotonic() - started


def shutdown(run_agent, session):
    p = run_agent("shutdown", "--session", session)
    assert p.returncode == 0, p.stdout.decode()
    assert_released(session)


def test_csh_prompt_after_autologin(run_agent, tmp_path, fake_kernel):
    """DragonFly's /root/.cshrc prompt: no blank before the '#'."""
    p, res, session, took = run_boot(run_agent, tmp_path, fake_kernel, "autologin",
                                     "vkernel# ", prompt_quiet="30")
    assert p.returncode == 0, p.stdout.decode()
    assert res["details"]["shells_found_by_sentinel"] == 0 and took < 5
    assert b"exec /bin/sh" in (session / "console.log").read_bytes()
    shutdown(run_agent, session)


def test_sh_prompt_after_login(run_agent, tmp_path, fake_kernel):
    p, res, session, _ = run_boot(run_agent, tmp_path, fake_kernel, "boot", "# ",
                                  prompt_quiet="30")
    assert p.returncode == 0, p.stdout.decode()
    shutdown(run_agent, session)


def test_unknown_prompt_is_found_by_a_sentinel(run_agent, tmp_path, fake_kernel):
    p, res, session, _ = run_boot(run_agent, tmp_path, fake_kernel, "autologin",
                                  "root@vkernel:~> ", prompt_quiet="0.3")
    assert p.returncode == 0, p.stdout.decode()
    assert res["details"]["shells_found_by_sentinel"] == 1
    console = (session / "console.log").read_bytes()
    assert b"echo VKP''-" in console and b"exec /bin/sh" in console
    shutdown(run_agent, session)


def test_no_shell_at_all_times_out_naming_what_it_saw(run_agent, tmp_path, fake_kernel):
    p, res, session, took = run_boot(run_agent, tmp_path, fake_kernel, "hang",
                                     prompt_quiet="0.2")
    assert p.returncode == 1 and res["kind"] == "timeout", p.stdout.decode()
    summary = res["summary"]
    assert "no shell prompt recognised; 3 sentinel(s) typed on a quiet console were not " \
           "answered" in summary, summary
    assert "; last line: " in summary and took < 15
    shutdown(run_agent, session)


def test_prompt_finder_rules():
    from buildbot_vkckpt.agent.login import PromptFinder
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


# --- on the simulated host: root's csh (DragonFly's dot.cshrc) or the image's /bin/sh ---------
def test_image_makes_roots_shell_sh_and_boot_finds_its_prompt(sim):
    run = sim.boot()
    assert run.returncode == 0, run
    console = (sim.session / "console.log").read_text(errors="replace")
    assert "# exec /bin/sh" in console and "vkernel# " not in console, console[-800:]
    assert sim.agent("shutdown").returncode == 0


def test_an_image_without_pw_keeps_csh_and_boot_finds_vkernel_hash(sim, tmp_path):
    """No pw(8) on the host: the image keeps root's csh, whose DragonFly prompt is
    ``vkernel# `` (no blank before the '#'); the boot still finds it."""
    import os
    bindir = tmp_path / "bin-without-pw"
    bindir.mkdir()
    for tool in os.listdir(sim.host.bin):
        if tool != "pw":
            os.symlink(sim.host.bin / tool, bindir / tool)
    env = sim.env()
    env["PATH"] = f"{bindir}:/usr/bin:/bin"
    image = tmp_path / "csh.img"
    run = sim.built.image_run(tmp_path / "image-session", image, env=env)
    assert run.returncode == 0, run
    warn = [e for e in run.events if e.get("ev") == "check" and e.get("name") == "root shell"]
    assert warn and warn[0]["warning"] and "stays csh" in warn[0]["text"], run
    run = sim.boot(image=image)
    assert run.returncode == 0, run
    console = (sim.session / "console.log").read_text(errors="replace")
    assert "vkernel# exec /bin/sh" in console, console[-800:]
    assert sim.agent("shutdown").returncode == 0
