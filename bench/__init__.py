"""
Benchmarks: each prints the machine it ran on and its figures, side by side
with a peer where it has one. C{python -m bench} runs them all.
"""
