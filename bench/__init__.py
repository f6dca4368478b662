"""The benchmark suite: ours against a naive baseline and the bare FastAPI floor.

`python -m bench` starts each server as its own process on 127.0.0.1, drives it with wrk
and WebSocket client processes, and prints every figure as a ratio to a baseline measured
in the same run (the machine is shared, so only same-run ratios mean much).
"""
