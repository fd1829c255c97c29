"""Load benchmarks (`make bench`): see bench/run.py."""
