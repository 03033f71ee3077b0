"""
Run the whole suite with trial and end with one line for CI:
C{N passed, N failed, N skipped}.

    python -m tests [trial arguments]    # default: the tests package
"""

import re
import subprocess
import sys


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


def main(argv):
    args = argv or ["tests"]
    process = subprocess.Popen(
        [sys.executable, "-m", "twisted.trial"] + args,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        bufsize=1)
    lines = []
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line)
        del lines[:-50]
    status = process.wait()
    counts = summarize(lines)
    if counts is None:
        print("0 passed, 1 failed (trial printed no summary; exit status "
              "{})".format(status))
        return 1
    passed, failed, skipped = counts
    print("{} passed, {} failed, {} skipped".format(passed, failed, skipped))
    return 0 if failed == 0 and status == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
