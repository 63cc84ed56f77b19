"""The agent zipapp as the master keeps it: built once per master process, written once per
version into the master's basedir (``vkckpt-agent-<sha12>/vkckpt-agent.pyz``), never into a new
temporary directory per master start. The steps copy it to the host from there."""
import hashlib
import os
import tempfile

_zipapp_cache = {}


def agent_zipapp(directory=None):
    """The agent zipapp, built once per master process: (path, sha256, bytes). With
    ``directory`` (the master's basedir) it is also kept there, in a folder named by its hash,
    written once per version — never a new temporary directory per master start."""
    if "sha" not in _zipapp_cache:
        from buildbot_vkckpt.agent.zipapp import zipapp_bytes
        data = zipapp_bytes()
        _zipapp_cache.update(sha=hashlib.sha256(data).hexdigest(), data=data)
    sha, data = _zipapp_cache["sha"], _zipapp_cache["data"]
    path = None
    if directory is not None:
        if not os.path.isdir(directory):  # a master without a basedir on disk (unit tests)
            directory = _zipapp_cache.setdefault("tmp", tempfile.mkdtemp(prefix="vkckpt-"))
        folder = os.path.join(directory, f"vkckpt-agent-{sha[:12]}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "vkckpt-agent.pyz")
        if not os.path.isfile(path) or os.path.getsize(path) != len(data):
            # a file of its own per writer: builds of several builders write at once, each
            # from a thread of the same master process
            fd, tmp = tempfile.mkstemp(dir=folder, prefix="vkckpt-agent.pyz.")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o755)
            os.replace(tmp, path)
    return path, sha, data
