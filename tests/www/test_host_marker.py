"""The dashboard's marker for builds whose push changed host-side vkernel code (issue 13)."""
from buildbot_vkckpt.www.render import table
from buildbot_vkckpt.www.summary import summarize

BUILD = {"buildid": 5, "number": 3, "builderid": 7, "complete": True, "results": 0}


def test_a_green_build_with_host_side_changes_shows_the_marker():
    row = summarize(BUILD, properties={
        "vkckpt_untested_host_paths": (["sys/kern/kern_checkpoint.c", "sys/vm/vm_vmspace.c"],
                                       "BuildPlan")})
    assert row.untested_host_paths == ["sys/kern/kern_checkpoint.c", "sys/vm/vm_vmspace.c"]
    html = table([row], "")
    assert 'class="vkd-host"' in html and ">host untested</span>" in html
    assert "sys/kern/kern_checkpoint.c, sys/vm/vm_vmspace.c" in html
    assert "the host keeps running its own kernel" in html


def test_no_marker_without_host_paths_or_from_another_source():
    for props in (None, {}, {"vkckpt_untested_host_paths": ([], "BuildPlan")},
                  # a change may carry a property of the same name: not the plan's
                  {"vkckpt_untested_host_paths": (["sys/kern/imgact_elf.c"], "Change")},
                  {"vkckpt_untested_host_paths": ("sys/kern/imgact_elf.c", "BuildPlan")},
                  {"vkckpt_untested_host_paths": ([3, None, ""], "BuildPlan")}):
        row = summarize(BUILD, properties=props)
        assert row.untested_host_paths == []
        assert "vkd-host" not in table([row], "").split("</style>")[-1]


def test_paths_are_escaped_and_capped():
    paths = [f"sys/kern/<b>{i}</b>.c" for i in range(12)]
    row = summarize(BUILD, properties={"vkckpt_untested_host_paths": (paths, "BuildPlan")})
    html = table([row], "")
    assert "<b>" not in html and "&lt;b&gt;0&lt;/b&gt;" in html
    assert "and 4 more" in html
