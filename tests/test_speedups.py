"""What tests/speedups.py does once per process is what it replaces."""
import importlib.metadata
import sqlite3
import sys

import _pytest.unittest
from buildbot.db import model
from buildbot.test.fake import fakemaster
from buildbot.test.reactor import TestReactorMixin
from twisted.trial import unittest

from tests import speedups


def schema(master):
    """Every table, index and row of the master's database, in a stable order."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(speedups.dump(master.db.pool.engine))
    tables = sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    rows = {name: sorted(map(repr, conn.execute(f'SELECT * FROM "{name}"')))
            for kind, name, _, _ in tables if kind == "table" and not name.startswith("sqlite_")}
    return tables, rows


def test_twisted_version_is_the_installed_one():
    assert "twisted.trial.unittest" in sys.modules       # this module imports trial
    assert _pytest.unittest._get_twisted_version is speedups.twisted_version
    major = int(importlib.metadata.version("twisted").split(".")[0])
    want = (_pytest.unittest.TwistedVersion.Version24 if major <= 24
            else _pytest.unittest.TwistedVersion.Version25)
    assert _pytest.unittest._get_twisted_version() is want
    assert speedups.pytest_twisted_version() is want   # pytest's own agrees


class TestSchemaCache(TestReactorMixin, unittest.TestCase):
    def setUp(self):
        self.setup_test_reactor()

    async def master(self):
        return await fakemaster.make_master(self, wantDb=True)

    async def test_the_replayed_schema_is_buildbots(self):
        self.assertIs(model.Model.upgrade, speedups.upgrade)   # installed by tests/conftest
        speedups.uninstall_schema()
        try:
            own = schema(await self.master())
        finally:
            speedups.install_schema()
        await self.master()                 # the first in this process may make the copy
        replayed = schema(await self.master())
        self.assertTrue(speedups._script, "no schema was kept")
        self.assertEqual(replayed, own)
        tables = {name for kind, name, _, _ in own[0] if kind == "table"}
        self.assertTrue({"builds", "steps", "logs", "alembic_version"} <= tables, tables)
        self.assertEqual(len(own[1]["alembic_version"]), 1)

    async def test_a_replayed_database_is_empty_and_usable(self):
        await self.master()
        master = await self.master()
        await master.db.insert_test_data([])
        self.assertEqual(await master.db.builders.getBuilders(), [])
        builderid = await master.db.builders.findBuilderId("b")
        self.assertEqual([b.name for b in await master.db.builders.getBuilders()], ["b"])
        self.assertIsInstance(builderid, int)
