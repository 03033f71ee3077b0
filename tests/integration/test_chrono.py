"""
C{chrono} on a real node, with our client and with the real Cocaine 0.12
framework.
"""

from cocaine.errors import CATEGORY_DISPATCH, UNCAUGHT_ERROR, CocaineError
from tests.integration.basics import PRIMITIVE, STREAMING, BasicsNodeCase


class ChronoNodeTests(BasicsNodeCase):

    async def test_ourClient(self):
        """
        notify_after writes the id (at once with send_id) and closes;
        notify_every ticks until cancel, which closes its stream; restart
        of an unknown id is an error.
        """
        chrono = self.service("chrono")
        channel = await chrono.notify_after(0.05, True)
        ids = [chunk async for chunk in channel]
        self.assertEqual(len(ids), 2)
        self.assertEqual(ids[0], ids[1])
        self.assertIsInstance(ids[0], int)

        channel = await chrono.notify_every(0.02)
        ticks = [await channel.read() for _ in range(3)]
        self.assertEqual(len(set(ticks)), 1)
        self.assertIsNone(await chrono.restart(ticks[0]))
        self.assertIsNone(await chrono.cancel(ticks[0]))
        rest = [chunk async for chunk in channel]
        self.assertTrue(set(rest) <= {ticks[0]})

        with self.assertRaises(CocaineError) as caught:
            await chrono.restart(ticks[0])
        self.assertEqual((caught.exception.category, caught.exception.code),
                         (CATEGORY_DISPATCH, UNCAUGHT_ERROR))

    async def test_realFramework(self):
        """
        The real 0.12 framework gets the same streams and answers.
        """
        steps = await self.framework("chrono")
        self.assertEqual(steps["resolve chrono"]["version"], 1)
        self.assertEqual(steps["resolve chrono"]["graph"], {
            "0": ["notify_after", {}, STREAMING],
            "1": ["notify_every", {}, STREAMING],
            "2": ["cancel", {}, PRIMITIVE], "3": ["restart", {}, PRIMITIVE]})
        after = steps["notify_after"]
        self.assertEqual(len(after["chunks"]), 2)
        self.assertEqual(after["chunks"][0], after["chunks"][1])
        self.assertTrue(after["closed"])
        every = steps["notify_every"]
        self.assertEqual(len(set(every["chunks"])), 1)
        self.assertEqual(len(every["chunks"]), 3)
        self.assertTrue(every["closed"])
        self.assertIn("error", steps["restart unknown"])
        self.assertEqual(steps["restart unknown"]["error"],
                         [CATEGORY_DISPATCH, UNCAUGHT_ERROR])
        self.assertNotIn("error", steps["restart"])
        self.assertNotIn("error", steps["cancel"])
