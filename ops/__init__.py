"""Running the app's processes: server command lines, free ports, process groups, Pushpin.

The one place these are written, used by `make run`, the tests, the benchmark and the scripts. It
imports nothing of the app (it starts it in other processes).
"""
