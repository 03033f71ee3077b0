"""
Tests for L{cocaine.diagrams} and L{cocaine.statemachine}: the machines'
documentation is the code's.
"""

import ast
import os
from typing import Protocol

from automat import TypeMachineBuilder
from twisted.trial.unittest import SynchronousTestCase

from cocaine import diagrams
from cocaine.statemachine import (
    mermaid, nameStates, table, transitions, undefined)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Inputs(Protocol):
    def go(self) -> None:
        "Go."

    def poke(self) -> None:
        "Ignored once gone."

    def stateName(self) -> str:
        "Its name."


class _Core:
    pass


def _machine():
    builder = TypeMachineBuilder(_Inputs, _Core)
    here, there = builder.state("here"), builder.state("there")
    nameStates([here, there], _Inputs.stateName)

    @here.upon(_Inputs.go).to(there)
    def moved(inputs, core):
        pass
    here.upon(_Inputs.poke).loop().returns(None)
    return builder.build()


class StateMachineTests(SynchronousTestCase):
    """
    The renderers of L{cocaine.statemachine}.
    """

    def test_nameStates(self):
        machine = _machine()(_Core())
        self.assertEqual(machine.stateName(), "here")
        machine.go()
        self.assertEqual(machine.stateName(), "there")

    def test_transitions(self):
        """
        The table leaves out the reporting input and constant outputs.
        """
        self.assertEqual(transitions(_machine()), [
            ("here", "go", "there", ["moved"]),
            ("here", "poke", "here", [])])

    def test_mermaid(self):
        """
        One arrow per transition; an input ignored in a state is left to
        the table.
        """
        self.assertEqual(mermaid(_machine()), "stateDiagram-v2\n"
                         "    [*] --> here\n"
                         "    here --> there: go")

    def test_undefined(self):
        """
        The pairs without a transition: the state reached only as a
        target counts too.
        """
        self.assertEqual(undefined(_machine()), [
            ("there", "go"), ("there", "poke")])

    def test_table(self):
        self.assertEqual(table(_machine()).splitlines()[2:], [
            "| here | go | there | moved |",
            "| here | poke | here | - |"])


class DocumentTests(SynchronousTestCase):
    """
    C{docs/machines.md} is what the code renders, and lists every machine.
    """

    def test_upToDate(self):
        with open(diagrams.documentPath()) as f:
            self.assertEqual(f.read(), diagrams.render(),
                             "run python -m cocaine.diagrams")

    def test_everyMachineListed(self):
        """
        Every module-level machine built under cocaine/ is documented.
        """
        found = set()
        for directory, _, files in os.walk(os.path.join(ROOT, "cocaine")):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(directory, name)
                module = os.path.relpath(path, ROOT)[:-3].replace(
                    os.sep, ".").replace(".__init__", "")
                with open(path) as f:
                    tree = ast.parse(f.read())
                for node in tree.body:
                    call = getattr(node, "value", None)
                    if (isinstance(node, ast.Assign)
                            and isinstance(call, ast.Call)
                            and "build" in (getattr(call.func, "attr", None),
                                            getattr(call.func, "id", None))):
                        for target in node.targets:
                            found.add("{}.{}".format(module, target.id))
        listed = {"{}.{}".format(module, name)
                  for _, module, name, _ in diagrams.MACHINES}
        self.assertEqual(found, listed)

    def test_check(self):
        """
        C{--check} passes on the committed document.
        """
        self.assertEqual(diagrams.main(["--check"]), 0)

    def test_unknownArgument(self):
        """
        An unknown argument is refused; the document is not written.
        """
        self.assertRaises(SystemExit, diagrams.main, ["--chek"])
