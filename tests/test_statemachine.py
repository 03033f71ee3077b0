"""
Tests for L{cocaine.statemachine.build}: a machine built with the indexed
automaton and the short path for plain inputs behaves exactly as the one
Automat builds, on the same inputs.
"""

import random
from dataclasses import dataclass, field
from typing import Protocol

from automat import NoTransition, TypeMachineBuilder
from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from cocaine.statemachine import build, constructor, nameStates

#: The deterministic Hypothesis profile of this project.
DETERMINISTIC = settings(deadline=None, derandomize=True, database=None)


class Inputs(Protocol):
    def go(self, n: int) -> int:
        "Plain, returns a value."

    def poke(self) -> None:
        "Plain; from state b it makes a re-entrant go."

    def enter(self, x: int) -> None:
        "Into a state with data."

    def use(self) -> int:
        "Reads the state's data."

    def leave(self) -> None:
        "Out of the state with data."

    def stateName(self) -> str:
        "The state's name."


@dataclass
class Core:
    log: list = field(default_factory=list)
    machine: object = None


@dataclass
class Data:
    x: int


def _build(lean):
    return _buildWithStates(lean)[0]


def _buildWithStates(lean):
    builder = TypeMachineBuilder(Inputs, Core)
    a, b = builder.state("a"), builder.state("b")
    c = builder.state("c", lambda inputs, core, x: Data(x))
    nameStates([a, b], Inputs.stateName)

    @a.upon(Inputs.go).to(b)
    def aGo(inputs, core, n):
        core.log.append(("aGo", n))
        return n + 1

    @b.upon(Inputs.go).loop()
    def bGo(inputs, core, n):
        core.log.append(("bGo", n))
        return n * 2

    @a.upon(Inputs.poke).loop()
    def aPoke(inputs, core):
        core.log.append("aPoke")

    @b.upon(Inputs.poke).to(a)
    def bPoke(inputs, core):
        core.log.append("bPoke")
        # re-entrant: waits until this transition is over, then runs in a
        core.machine.poke()

    @a.upon(Inputs.enter).to(c)
    def aEnter(inputs, core, x):
        core.log.append(("aEnter", x))

    @c.upon(Inputs.use).loop()
    def cUse(inputs, core, data: Data):
        core.log.append(("cUse", data.x))
        return data.x

    @c.upon(Inputs.leave).to(b)
    def cLeave(inputs, core, data: Data):
        core.log.append(("cLeave", data.x))

    @c.upon(Inputs.stateName).loop()
    def cName(inputs, core, data: Data):
        return "c"
    return build(builder, lean=lean), {"a": a, "b": b, "c": c}


LEAN, STOCK = _build(True), _build(False)

CALLS = [("go", (3,)), ("poke", ()), ("enter", (7,)), ("use", ()),
         ("leave", ()), ("stateName", ())]


def _run(machineType, calls):
    core = Core()
    machine = core.machine = machineType(core)
    results = []
    for name, args in calls:
        try:
            results.append(("ok", getattr(machine, name)(*args)))
        except NoTransition:
            results.append(("no", name))
        results.append(("state", machine.stateName()))
    return results, core.log


class LeanTests(SynchronousTestCase):

    def test_leanInstalled(self):
        """
        The plain inputs take the short path; Automat's stays behind it.
        """
        self.assertTrue(hasattr(LEAN.__automat_type__.go, "stock"))
        self.assertFalse(hasattr(STOCK.__automat_type__.go, "stock"))

    def test_reentrantInputWaits(self):
        results, log = _run(LEAN, [("go", (1,)), ("poke", ())])
        self.assertEqual(log, [("aGo", 1), "bPoke", "aPoke"])
        self.assertEqual(results[-1], ("state", "a"))

    @DETERMINISTIC
    @given(st.lists(st.sampled_from(CALLS), max_size=30))
    def test_sameAsAutomat(self, calls):
        """
        Any sequence of inputs gives the same results, outputs and states
        on both.
        """
        self.assertEqual(_run(LEAN, calls), _run(STOCK, calls))

    def test_hotInputsLean(self):
        """
        The inputs a request makes take the short path.
        """
        from cocaine.engine.session import SessionMachine
        implementer = SessionMachine.__automat_type__
        for name in ("requestEnded", "responseEnded"):
            self.assertTrue(hasattr(getattr(implementer, name), "stock"))

    def test_namedLikeTheProtocol(self):
        """
        An input of plain parameters takes them as the protocol names
        them, by position or by keyword, as Automat's own does; a wrong
        call fails the same way.
        """
        import inspect
        self.assertEqual(
            list(inspect.signature(LEAN.__automat_type__.go).parameters),
            ["self", "n"])

        def once(machineType, *args, **kwargs):
            core = Core()
            machine = core.machine = machineType(core)
            return machine.go(*args, **kwargs), machine.stateName(), core.log
        self.assertEqual(once(LEAN, n=4), once(STOCK, n=4))
        self.assertEqual(once(LEAN, n=4), once(LEAN, 4))
        for machineType in (LEAN, STOCK):
            self.assertRaises(TypeError, once, machineType)
            self.assertRaises(TypeError, once, machineType, 1, 2)
            self.assertRaises(TypeError, once, machineType, m=1)

    def test_otherParametersTakeAnyArguments(self):
        """
        An input whose parameters are not all plain, or whose names the
        short path uses itself, keeps the path that takes any arguments.
        """
        from cocaine.statemachine import _plainParameters

        class Shapes:
            def plain(self, a, b):
                pass

            def none(self):
                pass

            def defaulted(self, a=1):
                pass

            def varying(self, *a):
                pass

            def keyworded(self, *, a):
                pass

            def clashing(self, core):
                pass
        self.assertEqual(_plainParameters(Shapes.plain), ["a", "b"])
        self.assertEqual(_plainParameters(Shapes.none), [])
        for method in (Shapes.defaulted, Shapes.varying, Shapes.keyworded,
                       Shapes.clashing, None):
            self.assertIsNone(_plainParameters(method))

    def test_randomWalk(self):
        rng = random.Random(12)
        calls = [rng.choice(CALLS) for _ in range(2000)]
        self.assertEqual(_run(LEAN, calls), _run(STOCK, calls))


class ConstructorTests(SynchronousTestCase):
    """
    L{constructor} makes the same instances as the machine itself.
    """

    def setUp(self):
        self.machine, self.states = _buildWithStates(True)
        self.make = constructor(self.machine)

    def _walk(self, machine, core):
        core.machine = machine
        return [machine.go(2), machine.stateName(), machine.poke(),
                machine.stateName(), core.log]

    def test_initialState(self):
        """
        Without a state, an instance starts in the machine's initial state
        and answers inputs as one the machine made.
        """
        ours = Core()
        theirs = Core()
        made = self.make(ours)
        self.assertIsInstance(made, self.machine.__automat_type__)
        self.assertEqual(self._walk(made, ours),
                         self._walk(self.machine(theirs), theirs))

    def test_givenState(self):
        """
        With a state, an instance starts there, as C{machine(core, state)}
        does.
        """
        ours = Core()
        theirs = Core()
        self.assertEqual(
            self._walk(self.make(ours, self.states["b"]), ours),
            self._walk(self.machine(theirs, self.states["b"]), theirs))

    def test_dataStateRefused(self):
        """
        A state carrying data needs the machine, which builds the data:
        the short path refuses it, naming the state.
        """
        error = self.assertRaises(TypeError, self.make, Core(),
                                  self.states["c"])
        self.assertIn("'c'", str(error))

    def test_sessionMachine(self):
        """
        A session's machine is made on the short path and is an instance
        of L{cocaine.engine.session.SessionMachine}'s implementer.
        """
        from cocaine.engine import session
        made = session._newMachine(object(), session._running)
        self.assertIsInstance(made, session.SessionMachine.__automat_type__)
        self.assertEqual(made.stateName(), "running")
        self.assertEqual(session._newMachine(object()).stateName(), "queued")
