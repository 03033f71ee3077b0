# -*- test-case-name: tests.test_main -*-
"""
Run the whole suite with trial and end with one line for CI:
C{N passed, N failed, N skipped}.

    python -m tests [trial arguments]    # default: the tests package

Without arguments, trial runs L{jobs} worker processes at once (C{trial
-j}), two by default: each test runs whole in one worker, the next test
going to whichever worker is free. C{COCAINE_TEST_JOBS=1} runs them one
after the other in trial's own process, as trial does without C{-j}; any
other count runs that many workers. Tests that start servers take ports
no other test process is handed (L{tests.ports}), and what tests install
on first use is installed by one process at a time (L{tests.locks}).

Without arguments, the tests of the compiled modules' packages also run a
second time from their Python source (L{PURE_PASS}, with
C{COCAINE_PURE_PYTHON=1}): a machine without a C compiler runs that
source, so it is tested too. The closing line counts both runs.
"""

import os
import re
import subprocess
import sys

#: The packages whose tests run again from the compiled modules' Python
#: source (see L{cocaine.compiled}).
PURE_PASS = ["tests.protocol", "tests.rpc", "tests.engine", "tests.worker"]

#: The variable that sets how many trial workers the default run has.
JOBS = "COCAINE_TEST_JOBS"


def jobs(environ=os.environ, cpus=os.cpu_count):
    """
    How many trial workers the default run has: C{$COCAINE_TEST_JOBS},
    else two, or one on a machine with one CPU.

    @param environ: the environment to read L{JOBS} from.
    @param cpus: returns the number of CPUs, or L{None} when unknown.
    @raise SystemExit: L{JOBS} is not a whole number of at least one.
    """
    value = environ.get(JOBS, "").strip()
    if not value:
        return max(1, min(2, cpus() or 1))
    if not value.isdigit() or int(value) < 1:
        raise SystemExit("{}={!r}: give the number of trial workers, 1 or "
                         "more".format(JOBS, value))
    return int(value)


def jobArguments(count):
    """
    @return: trial's arguments for C{count} workers: none for one.
    """
    return [] if count == 1 else ["--jobs={}".format(count)]


def summarize(lines):
    """
    Read trial's closing line (C{PASSED (successes=3)} or C{FAILED
    (failures=1, errors=2, successes=4)}) and count.

    @return: C{(passed, failed, skipped)}, or L{None} when trial printed
        no summary.
    """
    for line in reversed(lines):
        match = re.match(r"^(PASSED|FAILED) \((.*)\)\s*$", line.strip())
        if match:
            counts = dict((k, int(v)) for k, v in re.findall(
                r"(\w+)=(\d+)", match.group(2)))
            passed = counts.get("successes", 0) + counts.get(
                "expectedFailures", 0)
            failed = (counts.get("failures", 0) + counts.get("errors", 0)
                      + counts.get("unexpectedSuccesses", 0))
            return passed, failed, counts.get("skips", 0)
    return None


def trial(args, env=None):
    """
    Run trial with C{args}, its output passed on as it comes.

    @return: C{(passed, failed, skipped)}; a run that printed no summary
        or ended with a bad status counts one failure more.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "twisted.trial"] + args,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        bufsize=1, env=env)
    lines = []
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line)
        del lines[:-50]
    status = process.wait()
    counts = summarize(lines)
    if counts is None:
        print("trial printed no summary; exit status {}".format(status))
        return 0, 1, 0
    passed, failed, skipped = counts
    if status and not failed:
        failed = 1
    return passed, failed, skipped


def defaultRuns(environ=os.environ, cpus=os.cpu_count):
    """
    The runs without arguments: the whole suite, then L{PURE_PASS} from
    the source, each with L{jobs} workers.

    @return: a list of C{(trial arguments, environment or None)}.
    """
    workers = jobArguments(jobs(environ, cpus))
    return [
        (workers + ["tests"], None),
        (workers + ["--temp-directory=_trial_temp_pure"] + PURE_PASS,
         dict(environ, COCAINE_PURE_PYTHON="1"))]


def main(argv):
    runs = [(argv, None)] if argv else defaultRuns()
    total = [0, 0, 0]
    for args, env in runs:
        total = [a + b for a, b in zip(total, trial(args, env))]
    passed, failed, skipped = total
    print("{} passed, {} failed, {} skipped".format(passed, failed, skipped))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
