# -*- test-case-name: tests.test_statemachine -*-
"""
What every lifecycle machine of the project shares.

Each lifecycle (worker, engine, app, session, cluster peer link, mesh link,
mesh requester) is one machine built with Automat's typed
C{TypeMachineBuilder}: an input protocol, a core object holding the data,
and the transition table, which is the spec. The machine is the only place
the lifecycle's state lives.

Three conventions:

  - A machine that must say which state it is in (for an info map or a
    log line) declares an input C{stateName() -> str}; L{nameStates}
    implements it in every state at once. It is left out of diagrams.
  - L{build} builds a machine with its transitions indexed (Automat
    looks a transition up by scanning them all).
  - L{mermaid} renders a built machine as a Mermaid state diagram;
    C{python -m cocaine.diagrams} writes every machine's into
    C{docs/machines.md}, and a test keeps that file true to the code.
"""

from automat._core import Automaton

#: Inputs that only report on the machine, left out of diagrams.
REPORTING_INPUTS = frozenset(["stateName"])


class _IndexedAutomaton(Automaton):
    """
    An automaton whose lookup of a transition is one dict access.

    Automat finds the transition for an input by scanning every transition
    and comparing states field by field: on the session's machine (about
    forty transitions, two inputs per request) that was 5 us an input, a
    third of the node's time per request.
    """

    _index = None

    def outputForInput(self, inState, inputSymbol):
        found = self._index.get((id(inState), inputSymbol))
        if found is None:
            # not a transition: Automat's own error (NoTransition)
            return Automaton.outputForInput(self, inState, inputSymbol)
        return found


def build(builder):
    """
    Build a machine, with its transitions indexed (L{_IndexedAutomaton}):
    use this instead of C{builder.build()}; the machine behaves the same.

    @param builder: a C{TypeMachineBuilder} with every transition added.
    @return: the C{TypeMachine}.
    """
    machine = builder.build()
    automaton = machine.__automat_automaton__
    automaton.__class__ = _IndexedAutomaton
    automaton._index = {
        (id(old), symbol): (new, tuple(outputs))
        for old, symbol, new, outputs in automaton.allTransitions()}
    return machine


def nameStates(states, stateName):
    """
    Implement the input C{stateName} in each of C{states}: it returns the
    state's name and changes nothing.

    @param states: the builder's states (C{builder.state(...)} results).
    @param stateName: the input protocol's C{stateName} method.
    """
    for state in states:
        state.upon(stateName).loop().returns(state.name)


def transitions(machine):
    """
    The transition table of a built machine.

    @param machine: a C{TypeMachine} (what C{TypeMachineBuilder.build}
        returned).
    @return: a sorted list of C{(state, input, new state, [outputs])}
        names, without L{REPORTING_INPUTS}.
    """
    automaton = machine.__automat_automaton__
    table = []
    for old, symbol, new, outputs in automaton.allTransitions():
        if symbol in REPORTING_INPUTS:
            continue
        table.append((old.name, symbol, new.name,
                      [name for name in map(_outputName, outputs)
                       if not name.startswith("returns(")]))
    return sorted(table, key=lambda row: (row[0], row[1]))


def initialState(machine):
    """
    @return: the name of a built machine's initial state.
    """
    return machine.__automat_automaton__.initialState.name


def _outputName(output):
    name = getattr(output, "name", None) or repr(output)
    return name.lstrip("_")


def mermaid(machine):
    """
    Render a built machine as a Mermaid C{stateDiagram-v2}: one arrow per
    transition, labelled with the input; a transition that stays in its
    state is drawn as a loop, unless it does nothing (an input ignored in
    that state: the table lists those).

    @return: the diagram's text, without the Markdown fence.
    """
    lines = ["stateDiagram-v2",
             "    [*] --> {}".format(initialState(machine))]
    for old, symbol, new, outputs in transitions(machine):
        if old == new and not outputs:
            continue
        lines.append("    {} --> {}: {}".format(old, new, symbol))
    return "\n".join(lines)


def table(machine):
    """
    Render a built machine's transition table as Markdown: state, input,
    next state, outputs.
    """
    rows = ["| state | input | next state | outputs |",
            "|---|---|---|---|"]
    for old, symbol, new, outputs in transitions(machine):
        rows.append("| {} | {} | {} | {} |".format(
            old, symbol, new, ", ".join(outputs) or "-"))
    return "\n".join(rows)
