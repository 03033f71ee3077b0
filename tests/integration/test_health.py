"""
C{echo} and C{uniresis} on a real node, with our client and with the real
Cocaine 0.12 framework.
"""

import os

from tests.integration.basics import PRIMITIVE, BasicsNodeCase


class HealthNodeTests(BasicsNodeCase):

    async def test_ourClient(self):
        """
        C{ping} echoes; uniresis answers this machine and the node's uuid.
        """
        self.assertEqual(await self.service("echo").ping("hello"), "hello")
        uniresis = self.service("uniresis")
        self.assertEqual(await uniresis.cpu_count(), os.cpu_count())
        self.assertEqual(await uniresis.memory_count(),
                         os.sysconf("SC_PHYS_PAGES")
                         * os.sysconf("SC_PAGE_SIZE"))
        self.assertEqual(await uniresis.uuid(), self.node.readUuid())

    async def test_realFramework(self):
        """
        The real 0.12 framework resolves and calls both.
        """
        steps = await self.framework("health")
        self.assertEqual(steps["resolve echo"]["version"], 1)
        self.assertEqual(steps["resolve echo"]["graph"],
                         {"0": ["ping", {}, PRIMITIVE]})
        self.assertEqual(steps["resolve uniresis"]["version"], 1)
        self.assertEqual(steps["resolve uniresis"]["graph"], {
            "0": ["cpu_count", {}, PRIMITIVE],
            "1": ["memory_count", {}, PRIMITIVE],
            "2": ["uuid", {}, PRIMITIVE]})
        self.assertEqual(steps["ping"]["value"], "hello")
        self.assertEqual(steps["cpu_count"]["value"], os.cpu_count())
        self.assertGreater(steps["memory_count"]["value"], 0)
        self.assertEqual(steps["uuid"]["value"], self.node.readUuid())
