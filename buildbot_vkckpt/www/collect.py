"""What the dashboard reads through the data API, and the cache that keeps a page cheap.

A finished build never changes, so its row is made once and kept by build id; a page render
then costs one call for the builders and one per builder for its latest builds, plus about
ten for each build not seen finished before (steps, test-result sets, properties, changes,
the results of at most six sets, and for a red build the logs of its failing step).
"""
import threading
from collections import OrderedDict

from twisted.python import log

from buildbot_vkckpt.www.summary import BuildSummary, failing_step, summarize, wanted_sets
from buildbot_vkckpt.www.values import as_list, integer

CACHE_SIZE = 4096


class Collector:
    """``get(path_tuple, **result_spec)`` is the data API (``buildbot_api.dataGet``)."""

    def __init__(self, get, cache_size=CACHE_SIZE):
        self.get = get
        self.cache_size = cache_size
        self._cache = OrderedDict()
        self._lock = threading.Lock()

    def builders(self, names=None, tags=None):
        """The builders to show, in the order of ``names`` when given, else by name."""
        found = [b for b in as_list(self.get(("builders",)))
                 if isinstance(b.get("name"), str) and integer(b.get("builderid")) is not None]
        if names:
            by_name = {b["name"]: b for b in found}
            return [by_name[n] for n in names if n in by_name]
        if tags:
            found = [b for b in found
                     if isinstance(b.get("tags"), list) and set(tags) & set(map(str, b["tags"]))]
        return sorted(found, key=lambda b: b["name"])

    def rows(self, builderid, limit):
        """The builder's last ``limit`` builds, newest first, as BuildSummary rows."""
        builds = as_list(self.get(("builders", builderid, "builds"), order=["-number"],
                                  limit=limit))
        builds.sort(key=lambda b: integer(b.get("number")) or 0, reverse=True)
        return [self.row(b) for b in builds[:limit]]

    def row(self, build):
        buildid = integer(build.get("buildid"))
        with self._lock:
            cached = self._cache.get(buildid)
            if cached is not None:
                self._cache.move_to_end(buildid)
                return cached
        try:
            row = self._read(build, buildid)
        except Exception as exc:   # one unreadable build must not take the page down
            log.err(exc, f"vkckpt dashboard: reading build {buildid}")
            row = summarize(build)
            row.problems.append(f"could not read this build: {exc}")
            return row
        if row.complete and buildid is not None:
            with self._lock:
                self._cache[buildid] = row
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return row

    def _read(self, build, buildid):
        if buildid is None:
            return summarize(build)
        steps = as_list(self.get(("builds", buildid, "steps")))
        sets = as_list(self.get(("builds", buildid, "test_result_sets")))
        results = {setid: as_list(self.get(("test_result_sets", setid, "results")))
                   for setid in wanted_sets(steps, sets)}
        properties = self.get(("builds", buildid, "properties"))
        changes = as_list(self.get(("builds", buildid, "changes")))
        logs = []
        bad = failing_step(steps) if integer(build.get("results")) not in (None, 0, 1, 3) \
            else None
        if bad is not None and integer(bad.get("stepid")) is not None:
            logs = as_list(self.get(("steps", bad["stepid"], "logs")))
        return summarize(build, steps, sets, results, properties, changes, logs)

    def cached(self, buildid):
        with self._lock:
            return self._cache.get(buildid)


__all__ = ["BuildSummary", "Collector"]
