"""
Tests of the benchmark harness's own logic (not of any figures).
"""
