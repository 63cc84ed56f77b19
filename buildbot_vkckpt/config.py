"""``add_to_config``: the plugin in an existing ``master.cfg`` with one call.

It appends to ``c`` (creating keys that are missing) and never replaces or reorders what the
master already has. Every name it adds starts with ``builder_prefix``; a name that is already
taken is a config error, so a second call or a clash with the master's own entries is caught
by ``buildbot checkconfig``.
"""
import functools
import re
from dataclasses import dataclass, field

from buildbot import config as bb_config
from buildbot.plugins import changes as bb_changes
from buildbot.plugins import schedulers, util

from buildbot_vkckpt import changes, revlinks
from buildbot_vkckpt.bisect import config as bisect_config
from buildbot_vkckpt.factory import VkernelCheckpointFactory, host_locks
from buildbot_vkckpt.fulllogs import add_full_logs
from buildbot_vkckpt.revlinks import DRAGONFLY_GITWEB
from buildbot_vkckpt.www import add_dashboard

FULL_LOGS = "vkckpt-logs"   # one full-log page per master, whatever the builders

OWNER = "add_to_config"
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)\Z")


@dataclass
class Added:
    """What add_to_config put into the config (names, for the caller and for tests)."""
    builders: list = field(default_factory=list)
    schedulers: list = field(default_factory=list)
    change_sources: list = field(default_factory=list)
    builder_for_branch: dict = field(default_factory=dict)
    dashboard: str = None           # name of the page added to the web UI, if any
    bisect_builders: list = field(default_factory=list)   # bisect= : probe and controller
    notifiers: list = field(default_factory=list)   # names of the reporters notify= added


def _error(text):
    bb_config.error(f"{OWNER}: {text}")


def safe_name(branch):
    """A branch as part of a builder or scheduler name: other characters become ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", branch)


def builder_name(prefix, branch):
    return f"{prefix}-{safe_name(branch)}"


def _as_list(c, key):
    value = c.get(key)
    if value is None:
        c[key] = []
    elif not isinstance(value, list):
        c[key] = list(value) if isinstance(value, tuple) else [value]
    return c[key]


def _worker_names(workers):
    names = []
    for w in workers if isinstance(workers, (list, tuple)) else [workers]:
        name = w if isinstance(w, str) else getattr(w, "workername", getattr(w, "name", None))
        if not isinstance(name, str) or not name:
            _error(f"workers must be worker names or Worker objects, not {w!r}")
            continue
        names.append(name)
    if not names:
        _error("workers must name at least one worker")
    return names


def _check_branches(branches):
    if isinstance(branches, str) or not isinstance(branches, (list, tuple)) or not branches:
        _error(f"branches must be a non-empty list of branch names, not {branches!r}")
        return []
    good = []
    for b in branches:
        if not isinstance(b, str) or not b.strip() or b != b.strip():
            _error(f"branches has an invalid branch name {b!r}")
        elif b in good:
            _error(f"branches lists {b!r} twice")
        else:
            good.append(b)
    return good


def _nightly_time(nightly):
    match = TIME.match(nightly) if isinstance(nightly, str) else None
    if not match:
        _error(f"nightly must be None or a time 'HH:MM', not {nightly!r}")
        return None
    return int(match.group(1)), int(match.group(2))


def _taken(entries, attr="name"):
    return {getattr(e, attr, None) for e in entries}


def _append_new(entries, new, names, what):
    """Append each of ``new`` to ``entries`` and its name to ``names``, unless the config
    already has one of that name (a config error: add_to_config called twice?)."""
    taken = _taken(entries)
    for entry in new:
        if entry.name in taken:
            _error(f"a {what} named {entry.name!r} already exists (called twice? use "
                   f"another builder_prefix)")
            continue
        entries.append(entry)
        names.append(entry.name)


def add_to_config(c, workers, repourl, branches=("master",), poll=True, tree_stable_timer=300,
                  nightly=None, builder_prefix="vkckpt", poll_interval=300, project=None,
                  dashboard=True, hook_user="vkckpt", hook_secret="vkckpt_change_hook",
                  bisect=False,
                  notify=None,
                  revision_url=DRAGONFLY_GITWEB,
                  **factory_kwargs):
    """Add the vkernel checkpoint test to the config dict ``c``; returns :class:`Added`.

    workers            names (or Worker objects) of the DragonFly hosts that build
    repourl            git URL of the DragonFly repository
    branches           one builder and one SingleBranchScheduler per branch
    poll               True: a GitPoller on ``repourl``; False: changes arrive from elsewhere
                       (the ``base`` web change hook is switched on when ``c['www']`` exists,
                       or a PBChangeSource / other hook the master already has)
    hook_user          with poll=False: the user name the change hooks require
    hook_secret        with poll=False: name of the Buildbot secret holding that user's
                       password; the hooks get basic authentication unless ``c['www']``
                       already has ``change_hook_auth``. None: leave them open (anyone who
                       reaches the web port can then make changes that start builds)
    tree_stable_timer  seconds without new changes before a build starts (None: at once)
    nightly            None or ``"HH:MM"``: a full build of every branch each night
    builder_prefix     prefix of every builder, scheduler and change source name
    poll_interval      seconds between polls (poll=True)
    project            if set, the poller tags changes with it and the schedulers only take
                       changes of that project (recommended on a master with other projects)
    dashboard          True: the checkpoint trends page of these builders in the web UI
                       (``wsgi_dashboards`` plugin, named ``builder_prefix``; needs ``c['www']``)
    notify             None, or a dict with ``mail`` and/or ``webhook`` (and ``events``): mail
                       or post what broke on green->red, red->green and a bisected culprit
                       (:func:`buildbot_vkckpt.notify.notifiers`, docs/notify.rst)
    bisect             True or a dict (``max_builds``, ``max_range``, ``workers`` of the
                       controller): a build that goes green->red on a check bisects the
                       range to the first bad commit (docs/bisect.rst)
    revision_url       web page of a commit, ``{revision}`` for its hash (DragonFly's gitweb by
                       default): revisions of ``repourl`` link there in the web UI's change
                       pages (``c['revlink']``, unless the config set one) and on the trends
                       page; None: no links of ours
    factory_kwargs     passed to :class:`VkernelCheckpointFactory` (``branch`` is per builder)
    """
    if not isinstance(c, dict):
        _error(f"c must be the BuildmasterConfig dict, not {type(c).__name__}")
        return Added()
    if not isinstance(builder_prefix, str) or not NAME.match(builder_prefix):
        _error(f"builder_prefix must be a name of letters, digits, '_', '.', '-', "
               f"not {builder_prefix!r}")
        builder_prefix = "vkckpt"
    if "branch" in factory_kwargs:
        _error("pass branches=[...], not branch= (each branch gets its own builder)")
        factory_kwargs.pop("branch")
    if tree_stable_timer is not None and (isinstance(tree_stable_timer, bool) or
                                          not isinstance(tree_stable_timer, (int, float))
                                          or tree_stable_timer < 0):
        _error(f"tree_stable_timer must be None or seconds >= 0, not {tree_stable_timer!r}")
        tree_stable_timer = None
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, int) \
            or poll_interval < 1:
        _error(f"poll_interval must be a positive number of seconds, not {poll_interval!r}")
        poll_interval = 300
    if project is not None and (not isinstance(project, str) or not project):
        _error(f"project must be None or a non-empty string, not {project!r}")
        project = None
    worker_names = _worker_names(workers)
    branch_list = _check_branches(branches)
    at = _nightly_time(nightly) if nightly is not None else None
    bisect_options = bisect_config.options(bisect)
    bisect_scheds = []

    builders = _as_list(c, "builders")
    scheds = _as_list(c, "schedulers")
    sources = _as_list(c, "change_source")
    added = Added()

    taken_builders = _taken(builders)
    for branch in branch_list:
        name = builder_name(builder_prefix, branch)
        if name in taken_builders:
            _error(f"a builder named {name!r} already exists (called twice? use another "
                   f"builder_prefix)")
            continue
        taken_builders.add(name)
        factory = VkernelCheckpointFactory(repourl, branch=branch, **factory_kwargs)
        builders.append(util.BuilderConfig(
            name=name, workernames=list(worker_names), factory=factory,
            locks=host_locks(factory_kwargs.get("transport")), tags=[builder_prefix, branch]))
        added.builders.append(name)
        added.builder_for_branch[branch] = name
        if bisect_options is not None:
            bisect_scheds += _add_bisection(builders, taken_builders, added, name, repourl,
                                            branch, worker_names, factory, bisect_options,
                                            factory_kwargs, [builder_prefix, branch],
                                            c.get("workers"))

    suite_prefix = factory_kwargs.get("suite_prefix", changes.DEFAULT_SUITE_PREFIX)
    important = functools.partial(changes.is_important, suite_prefix=suite_prefix)
    filter_args = {"project": project} if project else {}
    new_scheds = []
    for branch, name in added.builder_for_branch.items():
        new_scheds.append(schedulers.SingleBranchScheduler(
            name=f"{builder_prefix}-push-{safe_name(branch)}", builderNames=[name],
            change_filter=util.ChangeFilter(branch=branch, **filter_args),
            treeStableTimer=tree_stable_timer, fileIsImportant=important))
    new_scheds += bisect_scheds
    if added.builders:
        new_scheds.append(schedulers.ForceScheduler(name=f"{builder_prefix}-force",
                                                    builderNames=list(added.builders)))
    if at and added.builders:
        new_scheds.append(schedulers.Nightly(
            name=f"{builder_prefix}-nightly", builderNames=list(added.builders),
            hour=at[0], minute=at[1], reason="nightly full build (vkckpt)"))
    _append_new(scheds, new_scheds, added.schedulers, "scheduler")

    if poll and branch_list:
        name = f"{builder_prefix}-poller"
        if name in _taken(sources):
            _error(f"a change source named {name!r} already exists")
        else:
            sources.append(bb_changes.GitPoller(
                repourl, branches=list(branch_list), workdir=f"gitpoller-{builder_prefix}",
                pollInterval=poll_interval, pollAtLaunch=True, name=name,
                project=project))
            added.change_sources.append(name)
    elif not poll and isinstance(c.get("www"), dict):
        # the mirror's post-receive hook posts to /change_hook/base; keep any existing setting
        dialects = c["www"].setdefault("change_hook_dialects", {})
        others = sorted(set(dialects) - {"base"})
        dialects.setdefault("base", True)
        _protect_hooks(c, hook_user, hook_secret, others)

    if not revlinks.valid_template(revision_url):
        _error(f"revision_url must be an http(s) URL with {{revision}} in it, or None, not "
               f"{revision_url!r}")
        revision_url = None
    if revision_url and "revlink" not in c:
        c["revlink"] = revlinks.TemplateRevlink(repourl, revision_url)

    if dashboard and added.builders:
        caption = "vkernel checkpoints" + ("" if builder_prefix == "vkckpt"
                                           else f" ({builder_prefix})")
        if add_dashboard(c, name=builder_prefix, caption=caption,
                         builders=list(added.builders),
                         revision_url=revision_url) is not None:
            added.dashboard = builder_prefix
        # BuildWorld/BuildKernel ship the full log compressed; this page makes it a link
        dashboards = ((c.get("www") or {}).get("plugins") or {}).get("wsgi_dashboards") or []
        if isinstance(c.get("www"), dict) and FULL_LOGS not in {
                d.get("name") for d in dashboards if isinstance(d, dict)}:
            add_full_logs(c, name=FULL_LOGS)
    if notify is not None and added.builders:
        _add_notifiers(c, notify, added, builder_prefix)
    return added


def _add_notifiers(c, notify, added, prefix):
    """The reporters of ``notify=`` watching the builders just added."""
    from buildbot_vkckpt.notify import notifiers
    _append_new(_as_list(c, "services"), notifiers(notify, added.builders,
                                                   dashboard=added.dashboard, prefix=prefix),
                added.notifiers, "service")


def _add_bisection(builders, taken, added, name, repourl, branch, workers, factory, options,
                   factory_kwargs, tags, all_workers):
    """The bisect and controller builders of builder ``name`` (its factory gets the watch
    step); returns their schedulers."""
    probe_factory = VkernelCheckpointFactory(
        repourl, branch=branch, **bisect_config.probe_kwargs(factory_kwargs))
    new, scheds, watch = bisect_config.add_bisection(
        name, probe_factory, repourl, branch, workers,
        host_locks(factory_kwargs.get("transport")), tags, options, all_workers)
    clash = [b.name for b in new if b.name in taken]
    if clash:
        _error(f"a builder named {clash[0]!r} already exists (bisect=True adds it for "
               f"{name!r}: use another builder_prefix)")
        return []
    factory.addStep(watch)
    for builder in new:
        taken.add(builder.name)
        builders.append(builder)
        added.bisect_builders.append(builder.name)
    return scheds


def _protect_hooks(c, user, secret, other_dialects):
    """Basic authentication for /change_hook/ with the password in secret ``secret``."""
    www = c["www"]
    if secret is None or www.get("change_hook_auth") is not None:
        return
    if not isinstance(secret, str) or not secret or not isinstance(user, str) or not user:
        _error(f"hook_user and hook_secret must be non-empty names, not {user!r} and "
               f"{secret!r} (hook_secret=None leaves the change hooks open)")
        return
    if other_dialects:
        # the auth would cover them too and break their senders
        _error(f"poll=False protects /change_hook/ with basic authentication, which would "
               f"also apply to the {', '.join(other_dialects)} hook(s) already configured: set "
               f"c['www']['change_hook_auth'] yourself, or pass hook_secret=None")
        return
    if not c.get("secretsProviders"):
        _error(f"poll=False opens /change_hook/base with basic authentication (user "
               f"{user!r}, password in the secret {secret!r}), but c['secretsProviders'] is "
               f"empty: add one, e.g. secrets.SecretInAFile(dirname=...) holding a file "
               f"{secret!r}; or pass hook_secret=None to leave the hook open")
        return
    from buildbot_vkckpt.hookauth import HookAuthService, SecretPasswordChecker
    www["change_hook_auth"] = [SecretPasswordChecker(user, secret)]
    services = _as_list(c, "services")
    if not any(getattr(s, "name", None) == HookAuthService.name for s in services):
        services.append(HookAuthService())
