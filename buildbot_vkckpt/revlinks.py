"""Links from a revision to the repository's web view of that commit.

One template serves the web UI's change pages (Buildbot's ``c['revlink']``), the trends page
and the notifications: ``{revision}`` is replaced by the full hash. DragonFly's is its gitweb.
"""
from buildbot.revlinks import default_revlink_matcher

DRAGONFLY_GITWEB = "https://gitweb.dragonflybsd.org/dragonfly.git/commit/{revision}"


def valid_template(template):
    return template is None or (isinstance(template, str) and "{revision}" in template
                                and template.startswith(("http://", "https://")))


class TemplateRevlink:
    """``c['revlink']``: commits of ``repourl`` link through ``template``; any other
    repository gets Buildbot's own matchers (GitHub, Bitbucket, ...)."""

    def __init__(self, repourl, template, fallback=default_revlink_matcher):
        self.repourl = repourl
        self.template = template
        self.fallback = fallback

    def __call__(self, revision, repository):
        if revision and repository == self.repourl:
            return self.template.format(revision=revision)
        return self.fallback(revision, repository) if self.fallback else None
