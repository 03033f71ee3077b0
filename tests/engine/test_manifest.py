"""
Tests for L{cocaine.engine.manifest}: manifests and profiles as the tools
store them (decoded msgpack, text as bytes) and as JSON, with errors that
name the field.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine.manifest import (
    ISOLATE_TYPES, ManifestError, parseManifest, parseProfile, profileWire)


class ProfileIsolateTests(SynchronousTestCase):
    """
    The C{isolate} of a profile: the types this node runs, and Cocaine
    0.12's name for the process isolate.
    """

    def test_default(self):
        """
        No C{isolate}: the process isolate with no arguments.
        """
        self.assertEqual(dict(parseProfile({}).isolate),
                         {"type": "process", "args": {}})

    def test_legacyProcess(self):
        """
        C{legacy_process}, 0.12's in-node process isolate (what
        cocaine-tools' own test suite starts apps with), is our process
        isolate; the profile as written stays in C{raw}.
        """
        profile = parseProfile({"isolate": {"type": "legacy_process"}}, "lp")
        self.assertEqual(dict(profile.isolate), {"type": "process"})
        self.assertEqual(dict(profile.raw),
                         {"isolate": {"type": "legacy_process"}})
        self.assertEqual(profileWire(profile)["isolate"], {"type": "process"})

    def test_legacyProcessAsStored(self):
        """
        As the 0.12 tools store it: msgpack raw, so every text is bytes;
        the isolate's other keys (0.12's C{spool}, C{kill_timeout}) stay.
        """
        profile = parseProfile({b"isolate": {b"type": b"legacy_process",
                                             b"args": {b"kill_timeout": 5}},
                                b"pool-limit": 3}, "lp")
        self.assertEqual(dict(profile.isolate), {
            "type": "process", "args": {"kill_timeout": 5}})
        self.assertEqual(profile.poolLimit, 3)

    def test_processAndThread(self):
        for given in ("process", "thread"):
            profile = parseProfile({"isolate": {"type": given, "args": {}}})
            self.assertEqual(profile.isolate["type"], given)

    def test_typeMissing(self):
        """
        An C{isolate} map without a type is the process isolate.
        """
        profile = parseProfile({"isolate": {"args": {"spool": "/x"}}})
        self.assertEqual(dict(profile.isolate),
                         {"type": "process", "args": {"spool": "/x"}})

    def test_everyTypeKnown(self):
        self.assertEqual(set(ISOLATE_TYPES.values()), {"process", "thread"})

    def test_unknownType(self):
        """
        A type this node cannot run (0.12's external isolates: C{docker},
        C{porto}, C{external}) is refused, naming it and what is accepted.
        """
        with self.assertRaises(ManifestError) as caught:
            parseProfile({"isolate": {"type": "docker"}}, "web")
        message = str(caught.exception)
        self.assertIn("profile 'web': isolate:", message)
        self.assertIn("'docker'", message)
        for accepted in ("process", "legacy_process", "thread"):
            self.assertIn('"{}"'.format(accepted), message)
        self.assertEqual((caught.exception.category, caught.exception.code),
                         (0x51FF, 8))

    def test_typeNotText(self):
        """
        A type that is not text (here a list, which is not even hashable)
        is refused like an unknown one, not a crash.
        """
        for given in (["process"], None, 1):
            with self.assertRaises(ManifestError) as caught:
                parseProfile({"isolate": {"type": given}})
            self.assertIn(repr(given), str(caught.exception))

    def test_isolateNotAMap(self):
        with self.assertRaises(ManifestError) as caught:
            parseProfile({"isolate": "legacy_process"}, "p")
        self.assertIn("profile 'p': isolate: must be a map",
                      str(caught.exception))


class ProfileFieldTests(SynchronousTestCase):
    """
    The numeric fields: defaults of PROTOCOL.md section 7, errors naming
    the field.
    """

    def test_defaults(self):
        profile = parseProfile(None)
        self.assertEqual(
            (profile.poolLimit, profile.queueLimit, profile.concurrency,
             profile.growThreshold, profile.heartbeatTimeout,
             profile.startupTimeout, profile.idleTimeout,
             profile.terminationTimeout, profile.crashlogLimit,
             profile.logOutput),
            (10, 100, 10, 5, 30.0, 10.0, 600.0, 5.0, 50, False))

    def test_growThresholdFollowsLimits(self):
        profile = parseProfile({"pool-limit": 2, "queue-limit": 40})
        self.assertEqual(profile.growThreshold, 10)
        self.assertEqual(parseProfile({"pool-limit": 50}).growThreshold, 1)

    def test_nonPositiveRefused(self):
        for key, value in (("pool-limit", 0), ("concurrency", -1),
                           ("heartbeat-timeout", 0), ("startup-timeout", 0),
                           ("pool-limit", True), ("queue-limit", 1.5)):
            with self.assertRaises(ManifestError) as caught:
                parseProfile({key: value}, "p")
            self.assertIn("profile 'p': {}:".format(key),
                          str(caught.exception))

    def test_idleTimeoutZeroDisables(self):
        self.assertEqual(parseProfile({"idle-timeout": 0}).idleTimeout, 0.0)

    def test_notAMap(self):
        with self.assertRaises(ManifestError) as caught:
            parseProfile([1, 2], "p")
        self.assertIn("profile 'p': must be a map", str(caught.exception))


class ManifestTests(SynchronousTestCase):
    """
    Manifests as the tools upload them.
    """

    def test_asStored(self):
        manifest = parseManifest({b"slave": b"worker.py",
                                  b"environment": {b"A": b"1"}}, "app")
        self.assertEqual(manifest.slave, "worker.py")
        self.assertEqual(dict(manifest.environment), {"A": "1"})
        self.assertEqual(dict(manifest.drivers), {})
        self.assertIsNone(manifest.pubsub)

    def test_tasksIsDrivers(self):
        manifest = parseManifest({"slave": "w", "tasks": {
            "t": {"type": "recurring-timer", "interval": 1000}}}, "app")
        self.assertEqual(list(manifest.drivers), ["t"])

    def test_slaveRequired(self):
        with self.assertRaises(ManifestError) as caught:
            parseManifest({}, "app")
        self.assertIn("manifest of app 'app': slave:", str(caught.exception))


class ProfileAccountTests(SynchronousTestCase):
    """
    A profile's C{user}, C{group} and C{environment}.
    """

    def test_default(self):
        profile = parseProfile({}, "p")
        self.assertEqual((profile.user, profile.group,
                          dict(profile.environment)), (None, None, {}))

    def test_given(self):
        profile = parseProfile({b"user": b"nobody", "group": 65534,
                                "environment": {"A": b"1"}}, "p")
        self.assertEqual((profile.user, profile.group,
                          dict(profile.environment)),
                         ("nobody", 65534, {"A": "1"}))

    def test_malformed(self):
        for value in ({"user": ""}, {"user": -1}, {"group": True},
                      {"user": ["x"]}, {"environment": {"A": 1}},
                      {"environment": ["A"]}):
            error = self.assertRaises(ManifestError, parseProfile, value,
                                      "p")
            self.assertIn("profile 'p': " + next(iter(value)), str(error))


class ProfileSchedulingTests(SynchronousTestCase):
    """
    The C{scheduling} of a profile: the workers' CPU scheduling policy.
    """

    def test_default(self):
        """
        No C{scheduling}: C{batch}, shown with the profile's fields.
        """
        profile = parseProfile({})
        self.assertEqual(profile.scheduling, "batch")
        self.assertEqual(profileWire(profile)["scheduling"], "batch")

    def test_normal(self):
        profile = parseProfile({b"scheduling": b"normal"})
        self.assertEqual(profile.scheduling, "normal")

    def test_unknown(self):
        """
        Another value is refused, naming it and the policies accepted.
        """
        for value in ("idle", 1, ["batch"]):
            with self.assertRaises(ManifestError) as caught:
                parseProfile({"scheduling": value}, "web")
            message = str(caught.exception)
            self.assertIn("profile 'web': scheduling:", message)
            self.assertIn(repr(value), message)
            self.assertIn('"batch", "normal"', message)
