"""What a build tested: branch, commit (subject, author, a link to the repository's web view),
host and vkernel. Read from the build's properties and changes, never from summaries."""
from dataclasses import dataclass
from urllib.parse import quote

from buildbot_vkckpt.www.values import as_list, integer, property_text, text


@dataclass
class Identity:
    branch: str = None
    subject: str = None               # the first line of the commit message
    author: str = None
    revlink: str = None               # the change's own link, when its source gave one
    host_kernel: str = None           # the test host's kernel version
    flavour: str = None               # the vkernel's flavour (with or without a handler)
    guest_version: str = None
    memory: str = None                # the vkernel's memory (-m) and CPUs (-c)
    cpus: str = None


def _change_for(changes, revision):
    """The change of ``revision`` (the build's got_revision), else the newest change."""
    changes = sorted(as_list(changes), key=lambda c: integer(c.get("changeid")) or 0)
    if not changes:
        return {}
    for change in changes:
        rev = text(change.get("revision"))
        if rev and revision and (rev.startswith(revision) or revision.startswith(rev)):
            return change
    return changes[-1]


def read_identity(properties, changes, revision):
    change = _change_for(changes, revision)
    comments = text(change.get("comments"))
    branch = property_text(properties, "branch") or text(change.get("branch"))
    return Identity(
        branch=branch,
        subject=comments.strip().splitlines()[0] if comments and comments.strip() else None,
        author=text(change.get("author")),
        revlink=text(change.get("revlink")),
        host_kernel=property_text(properties, "vkckpt_host_kernel"),
        flavour=property_text(properties, "vkckpt_flavour"),
        guest_version=property_text(properties, "vkckpt_guest_version"),
        memory=property_text(properties, "vkckpt_vkernel_memory"),
        cpus=property_text(properties, "vkckpt_vkernel_cpus"))


def commit_url(template, revision, identity):
    """The web view of ``revision``: ``template`` with ``{revision}`` filled in (quoted for a
    URL), else the change's own link; None when neither is known."""
    if template and revision and "," not in revision:
        try:
            return template.format(revision=quote(revision, safe=""))
        except (KeyError, IndexError, ValueError):
            return None
    return identity.revlink if identity is not None else None
