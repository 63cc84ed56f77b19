"""Keeping the master's artifacts bounded: ``<basedir>/artifacts/<builder>/<build number>/``
holds each build's console log, ledger, events, results tar and full build logs; only the
newest ``keep`` builds of a builder stay. Blocking file-system work: call it off the reactor."""
import os
import shutil


def prune(builder_dir, keep, current=None):
    """Remove build directories of ``builder_dir`` beyond the newest ``keep`` (by build number;
    ``current`` is never removed). Anything that is not a build number is left alone. Returns
    the removed build numbers, oldest first."""
    if keep is None:
        return []
    try:
        names = os.listdir(builder_dir)
    except OSError:
        return []
    numbers = sorted(int(n) for n in names
                     if n.isdigit() and os.path.isdir(os.path.join(builder_dir, n))
                     and not os.path.islink(os.path.join(builder_dir, n)))
    doomed = [n for n in numbers[:max(0, len(numbers) - keep)] if n != current]
    removed = []
    for number in doomed:
        shutil.rmtree(os.path.join(builder_dir, str(number)), ignore_errors=True)
        if not os.path.exists(os.path.join(builder_dir, str(number))):
            removed.append(number)
    return removed
