"""
Tests for L{bench.paths} and its workloads (run here without valgrind,
on a few requests, so they keep working as the code changes).
"""

from twisted.trial.unittest import SynchronousTestCase

from bench import pathload, paths


class WorkloadTests(SynchronousTestCase):

    def test_eachRuns(self):
        """
        Every workload serves its requests without an error (the app's
        are all answered: the engine's queue and sessions are empty).
        """
        for name, workload in pathload.WORKLOADS.items():
            workload(32)
        self.assertEqual(sorted(pathload.WORKLOADS), sorted(paths.WORKLOADS))

    def test_appAnswered(self):
        """
        The app workload's requests all reach the worker and end.
        """
        import cocaine.engine.engine as engine
        seen = []
        original = engine.AppEngine.sessionFinished

        def finished(self, session):
            seen.append(session)
            return original(self, session)
        self.patch(engine.AppEngine, "sessionFinished", finished)
        pathload.app(48)
        self.assertEqual(len(seen), 48)

    def test_appAuthAnswered(self):
        """
        The app-auth workload's requests pass the guard (its token is
        valid) and all reach the worker and end.
        """
        import cocaine.engine.engine as engine
        import cocaine.rpc.identity as identity
        seen, refused = [], []
        original = engine.AppEngine.sessionFinished

        def finished(self, session):
            seen.append(session)
            return original(self, session)
        self.patch(engine.AppEngine, "sessionFinished", finished)
        self.patch(identity.CallerIdentity, "_refuse",
                   lambda self, *args: refused.append(args))
        pathload.appAuth(48)
        self.assertEqual((len(seen), refused), (48, []))

    def test_clientCallsChecked(self):
        """
        The client workloads keep their calls in flight until all have
        ended, and stop on a call that failed.
        """
        from twisted.internet.defer import Deferred, fail
        pending, fed = [], []

        def call():
            pending.append(Deferred())
            return pending[-1]

        def answers(first):
            fed.append((first, len(pending)))
            calls = pending[:]
            del pending[:]
            for d in calls:
                d.callback(None)
        pathload._inFlight(call, 48, answers)
        self.assertEqual(fed, [(1, 16), (17, 16), (33, 16)])
        self.assertEqual(pending, [])
        self.assertRaises(SystemExit, pathload._inFlight,
                          lambda: fail(ValueError("bad echo")), 32,
                          fed.append)


class ArgumentTests(SynchronousTestCase):
    """
    Bad arguments are one line saying which, before anything runs.
    """

    def test_unknownRevision(self):
        import io
        import sys
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        self.patch(paths.shutil, "which", lambda name: "/usr/bin/" + name)
        self.assertEqual(paths.main(["--against", "no-such-rev"]), 2)
        self.assertEqual(stderr.getvalue(), "bench.paths: --against: "
                         "'no-such-rev' is not a commit of this "
                         "repository\n")

    def test_unknownWorkload(self):
        self.patch(paths.shutil, "which", lambda name: "/usr/bin/" + name)
        self.assertRaises(SystemExit, paths.main, ["--only", "nothing"])

    def test_tooFewRequests(self):
        self.assertRaises(SystemExit, paths.main, ["--requests", "-5"])

    def test_pureWithAgainst(self):
        """
        C{--pure} compares the tree with itself, so it does not go with
        C{--against}.
        """
        self.assertRaises(SystemExit, paths.main,
                          ["--pure", "--against", "HEAD"])


class PureTests(SynchronousTestCase):
    """
    C{--pure} runs the other column from the Python source of the compiled
    modules, and the tree's own column from what was built.
    """

    def test_switch(self):
        runs = []

        def run(command, env, **kwargs):
            runs.append(env[paths.ENV_PURE])

            class Result:
                returncode = 0
                stderr = "==1== Collected : {}".format(1000 * len(runs))
            return Result()
        self.patch(paths.subprocess, "run", run)
        self.assertEqual(paths.perRequest(paths.ROOT, "app", 16, pure=True),
                         1000 / 32.0)
        self.assertEqual(paths.perRequest(paths.ROOT, "app", 16), 1000 / 32.0)
        self.assertEqual(runs, ["1", "1", "0", "0"])

    def switches(self, argv):
        """
        @return: the C{COCAINE_PURE_PYTHON} of each callgrind run of
            C{paths.main(argv)} for the app workload.
        """
        runs = []

        def perRequest(tree, workload, requests, pure=False):
            runs.append(pure)
            return 1000.0
        self.patch(paths, "perRequest", perRequest)
        self.patch(paths, "checkout", lambda revision: paths.ROOT)
        self.patch(paths, "remove", lambda directory: None)
        self.patch(paths, "revisionOf", lambda tree: "abc")
        self.patch(paths.shutil, "which", lambda name: "/usr/bin/" + name)
        import io
        import sys
        self.patch(sys, "stdout", io.StringIO())
        self.assertEqual(paths.main(argv + ["--only", "app"]), 0)
        return runs, sys.stdout.getvalue()

    def test_pureColumns(self):
        """
        C{--pure}: this tree as built, then from its source.
        """
        runs, _ = self.switches(["--pure"])
        self.assertEqual(runs, [False, True])

    def test_againstFromSource(self):
        """
        C{--against}: another revision's worktree has no compiled modules,
        so both revisions run from their source, and the output says so.
        """
        runs, output = self.switches(["--against", "HEAD"])
        self.assertEqual(runs, [True, True])
        self.assertIn("both revisions from their Python source", output)


class BatchTests(SynchronousTestCase):
    """
    C{PATHLOAD_BATCH} sets the requests a read of L{pathload}'s workloads.
    """

    def test_default(self):
        """
        Unset, a read carries 16 requests.
        """
        self.assertEqual(pathload._batch({}), 16)

    def test_set(self):
        """
        A whole number of at least 1 is taken.
        """
        self.assertEqual(pathload._batch({"PATHLOAD_BATCH": "1"}), 1)

    def test_bad(self):
        """
        Anything else stops the workload with a message naming the
        variable and the value.
        """
        for text in ("abc", "0", "-3", "1.5"):
            error = self.assertRaises(SystemExit, pathload._batch,
                                      {"PATHLOAD_BATCH": text})
            self.assertIn("PATHLOAD_BATCH", str(error))
            self.assertIn(repr(text), str(error))
