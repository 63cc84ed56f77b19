"""Work the in-process tests would otherwise repeat around every test, done once per process.

**Buildbot's database schema.** Each step test's fake master
(``TestBuildStepMixin.setup_test_build_step``, ``make_master``) opens a new in-memory SQLite
database, and Buildbot's ``Model.upgrade`` builds its schema from the SQLAlchemy model
(``create_all``) and stamps the alembic head: about 36 ms of CPU per test, more than most step
tests spend on the step itself. The schema is the same every time, so the first upgrade in a
process runs as Buildbot wrote it and its result is kept as SQL
(``sqlite3.Connection.iterdump``); every later in-memory database replays that script.
Databases that are not in-memory SQLite (a test that names a file or another server) always
get Buildbot's own upgrade.

**Twisted's version.** pytest 9.2 asks ``importlib.metadata`` for Twisted's version around every
test once trial is imported (``_pytest.unittest._get_twisted_version``, 2-3 ms each, about
4 CPU-s of ``make test-fast``); it cannot change during a run, so it is asked once.

``tests/test_speedups.py`` checks that both give what they replace.
"""
import sys

import _pytest.unittest
from buildbot.db import model
from twisted.internet import defer

_buildbot_upgrade = model.Model.upgrade
_script = []   # the SQL of the first in-memory schema, once made
pytest_twisted_version = _pytest.unittest._get_twisted_version
_twisted = []  # its answer, once trial is imported


# --- the schema -------------------------------------------------------------------------------
def _in_memory(engine):
    return engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:")


def _driver(engine):
    """The DB-API connection under the engine's pool (one per thread for in-memory SQLite)."""
    raw = engine.raw_connection()
    return raw, raw.driver_connection


def dump(engine):
    """The SQL that recreates this database's schema and rows."""
    raw, conn = _driver(engine)
    try:
        return "\n".join(conn.iterdump())
    finally:
        raw.close()


def replay(engine, script):
    raw, conn = _driver(engine)
    try:
        conn.executescript(script)
    finally:
        raw.close()


@defer.inlineCallbacks
def upgrade(self):
    pool = self.db.pool
    if not _in_memory(pool.engine):
        yield _buildbot_upgrade(self)
    elif _script:
        yield pool.do_with_engine(replay, _script[0])
    else:
        yield _buildbot_upgrade(self)
        _script.append((yield pool.do_with_engine(dump)))


# --- Twisted's version ------------------------------------------------------------------------
def twisted_version():
    if "twisted.trial.unittest" not in sys.modules:
        return pytest_twisted_version()
    if not _twisted:
        _twisted.append(pytest_twisted_version())
    return _twisted[0]


def install():
    install_schema()
    _pytest.unittest._get_twisted_version = twisted_version


def install_schema():
    model.Model.upgrade = upgrade


def uninstall_schema():
    model.Model.upgrade = _buildbot_upgrade
