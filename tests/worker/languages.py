"""
Preparing the example workers of other languages once per test run.
"""

_prepared = {}


def once(name, prepare):
    """
    Run C{prepare} once per test run and remember its result, or the
    L{twisted.trial.unittest.SkipTest} it raised.
    """
    from twisted.trial.unittest import SkipTest
    if name not in _prepared:
        try:
            _prepared[name] = (True, prepare())
        except SkipTest as skip:
            _prepared[name] = (False, skip)
    ok, value = _prepared[name]
    if not ok:
        raise value
    return value
