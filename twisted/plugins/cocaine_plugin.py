# -*- test-case-name: tests.test_tap,tests.http.test_tap -*-
"""
The twistd plugin: C{twistd -n cocaine --config FILE}.

Lazy: importing this module imports nothing of Cocaine, so a broken import
inside C{cocaine.tap} breaks only C{twistd cocaine}.
"""

from twisted.application.service import ServiceMaker

cocaine = ServiceMaker(
    "Cocaine", "cocaine.tap",
    "Cocaine: your personal app engine (locator, services, apps).",
    "cocaine")

proxy = ServiceMaker(
    "Cocaine proxy", "cocaine.http.tap",
    "An HTTP gateway to the apps of Cocaine nodes found at their locators.",
    "cocaine-proxy")
