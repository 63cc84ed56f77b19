"""Buildbot's database schema for the fake masters of in-process tests, made once per process.

Each step test's fake master (``TestBuildStepMixin.setup_test_build_step``, ``make_master``)
opens a new in-memory SQLite database, and Buildbot's ``Model.upgrade`` builds its schema from
the SQLAlchemy model (``create_all``) and stamps the alembic head: about 36 ms of CPU per test,
more than most step tests spend on the step itself. The schema is the same every time, so the
first upgrade in a process runs as Buildbot wrote it and its result is kept as SQL
(``sqlite3.Connection.iterdump``); every later in-memory database replays that script.
Databases that are not in-memory SQLite (a test that names a file or another server) always get
Buildbot's own upgrade. ``tests/test_schemacache.py`` checks that both give the same schema.
"""
from buildbot.db import model
from twisted.internet import defer

_buildbot_upgrade = model.Model.upgrade
_script = []   # the SQL of the first in-memory schema, once made


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


def install():
    model.Model.upgrade = upgrade


def uninstall():
    model.Model.upgrade = _buildbot_upgrade
