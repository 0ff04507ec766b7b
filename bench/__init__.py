"""Benchmarks: each module compares us with the baseline in the same run, as ratios."""
