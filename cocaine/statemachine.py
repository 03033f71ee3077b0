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
    looks a transition up by scanning them all) and its plain inputs on a
    short path.
  - L{constructor} makes a machine's instances in a state without data
    on a short path, for machines made once a request.
  - L{mermaid} renders a built machine as a Mermaid state diagram;
    C{python -m cocaine.diagrams} writes every machine's into
    C{docs/machines.md}, and a test keeps that file true to the code.
"""

import inspect

from automat._core import Automaton, Transitioner
from automat._typed import MethodOutput, TypedDataState

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


def build(builder, lean=True):
    """
    Build a machine, with its transitions indexed (L{_IndexedAutomaton})
    and, unless C{lean} is false, its inputs taking a short path for the
    transitions that allow it (L{_leanInputs}): use this instead of
    C{builder.build()}; the machine behaves the same.

    @param builder: a C{TypeMachineBuilder} with every transition added.
    @return: the C{TypeMachine}.
    """
    machine = builder.build()
    automaton = machine.__automat_automaton__
    automaton.__class__ = _IndexedAutomaton
    automaton._index = {
        (id(old), symbol): (new, tuple(outputs))
        for old, symbol, new, outputs in automaton.allTransitions()}
    if lean:
        _leanInputs(machine, builder.inputProtocol)
    return machine


def _leanInputs(machine, protocol=None):
    """
    Give each input of C{machine} a short path for its plain transitions:
    those whose outputs are functions of ours that take no state data.

    Automat runs every input through a wrapper, a transitioner and an
    output object per output: about 2 us an input, three times the work
    the transition itself does. A session makes two inputs a request, so
    that was a sixth of the node's time per request. The short path does
    what Automat does for such a transition (the new state, then each
    output with the machine and its core; an input made while a transition
    runs waits its turn) and leaves everything else (a transition into or
    out of state data, a traced machine, an input that is not allowed, an
    input made during a transition) to Automat's own implementation.
    An input whose parameters are plain takes them by their names
    (L{_leanFixed}); any other takes any arguments (L{_lean}).
    C{tests/test_statemachine.py} runs both on the same inputs. It reads
    attributes Automat's generated inputs use (C{__automat_transitioner__}
    and its kin), so C{setup.cfg} holds Automat to the release line it was
    checked against.
    """
    implementer = machine.__automat_type__
    plain = {}
    for (stateId, symbol), (new, outputs) in (
            machine.__automat_automaton__._index.items()):
        if all(type(output) is MethodOutput and not output.requiresData
               for output in outputs):
            plain.setdefault(symbol, {})[stateId] = (
                new, tuple(output.method for output in outputs))
    for symbol, transitions in plain.items():
        stock = getattr(implementer, symbol, None)
        if stock is not None:
            names = _plainParameters(getattr(protocol, symbol, None))
            setattr(implementer, symbol,
                    _lean(transitions, stock) if names is None
                    else _leanFixed(transitions, stock, names))


def _plainParameters(method):
    """
    @return: the names of C{method}'s parameters after C{self} when they
        are all plain (positional or keyword, no default) and none is a
        name the short path uses, else L{None}.
    """
    if method is None:
        return None
    try:
        parameters = list(inspect.signature(method).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    if any(p.kind is not p.POSITIONAL_OR_KEYWORD or p.default is not p.empty
           or p.name in _RESERVED_NAMES for p in parameters):
        return None
    return [p.name for p in parameters]


#: the names the short path (L{_SHORT_PATH}) uses besides its parameters
_RESERVED_NAMES = frozenset([
    "self", "transitioner", "found", "methods", "postponed", "core",
    "result", "method", "id", "_get", "_stock"])

#: the short path, compiled for each input: what Automat does for a plain
#: transition (the new state, then each output with the machine and its
#: core; an input made while a transition runs waits its turn), anything
#: else left to Automat's own input (C{_stock})
_SHORT_PATH = """
def lean(self, {params}):
    if self.__automat_postponed__ is None{guard}:
        transitioner = self.__automat_transitioner__
        found = _get(id(transitioner._state))
        if found is not None and transitioner._tracer is None:
            transitioner._state, methods = found
            postponed = self.__automat_postponed__ = []
            try:
                core = self.__automat_core__
                result = None
                for method in methods:
                    result = method(self, core, {args})
            finally:
                self.__automat_postponed__ = None
            while postponed:
                postponed.pop(0)()
            return result
    return _stock(self, {params})
"""


def _compiled(transitions, stock, params, args, guard=""):
    source = _SHORT_PATH.format(params=params, args=args, guard=guard)
    namespace = {"_get": transitions.get, "_stock": stock}
    exec(compile(source, "<lean {}>".format(stock.__name__), "exec"),
         namespace)
    lean = namespace["lean"]
    lean.__name__ = lean.__qualname__ = stock.__name__
    lean.stock = stock
    return lean


def _leanFixed(transitions, stock, names):
    """
    The short path of an input whose parameters are plain, compiled with
    the parameters the protocol names (as C{dataclasses} compiles an
    C{__init__}): a call builds no argument tuple and no keyword map, and
    a keyword call binds as it does on Automat's own input.
    """
    params = ", ".join(names)
    return _compiled(transitions, stock, params, params)


def _lean(transitions, stock):
    """
    The short path of any other input: it takes any arguments, and
    keyword arguments go to Automat's own input.
    """
    return _compiled(transitions, stock, "*args, **kwargs", "*args",
                     " and not kwargs")


def constructor(machine):
    """
    A short path to C{machine(core, state)} for states without data.

    Automat's C{TypeMachine.__call__} checks whether the state carries
    data with an C{isinstance} against a protocol class (Python code) and
    builds the instance through keyword-typed overloads: 0.46 us, where
    making the instance and its transitioner is 0.30. A session makes one
    a request. The instance is the same: Automat's input implementer
    around a C{Transitioner} in the state.

    @param machine: a built C{TypeMachine}.
    @return: C{make(core, state=None)}; C{state} L{None} is the initial
        state; a state with data is refused (use the machine itself,
        which builds the data).
    """
    automaton = machine.__automat_automaton__
    implementer = machine.__automat_type__
    initial = automaton.initialState

    def make(core, state=None):
        if state is None:
            state = initial
        elif type(state) is TypedDataState:
            raise TypeError("{!r} carries data: construct it with the "
                            "machine".format(state.name))
        return implementer(core, Transitioner(automaton, state))
    return make


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


def undefined(machine):
    """
    The state and input pairs a machine has no transition for: the ones
    that raise C{automat.NoTransition} if they happen.

    @return: a sorted list of C{(state, input)} names, without
        L{REPORTING_INPUTS}.
    """
    table = transitions(machine)
    defined = {(old, symbol) for old, symbol, _, _ in table}
    states = {old for old, _, new, _ in table} | {
        new for _, _, new, _ in table}
    inputs = {symbol for _, symbol, _, _ in table}
    return sorted((state, symbol) for state in states for symbol in inputs
                  if (state, symbol) not in defined)


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
