"""Run a function in a child process whose CPU time the kernel limits.

For tests that work stays linear in its input, without measuring how long it takes: the test
gives an input so big that quadratic work on it would take minutes or hours, and the child
only ``cpu_seconds`` of CPU time; the kernel kills a child that goes over (SIGXCPU), and the
test fails on that, not on a duration. Linear work on the same input takes a fraction of a
second. CPU time, not wall-clock time: a busy machine slows the child down without failing it.

The child is a fork of the test process: it has the modules already imported (a new
interpreter took 0.7 s to import ``transforms.minhash`` alone), runs only the function and
leaves with ``os._exit``.
"""

from __future__ import annotations

import os
import pickle
import resource
import signal
import traceback
from collections.abc import Callable
from typing import TypeVar, cast

CPU_SECONDS = 20

T = TypeVar("T")


def run_cpu_limited(function: Callable[..., T], *args: object, cpu_seconds: int = CPU_SECONDS) -> T:
    """``function(*args)``, computed in a child process allowed ``cpu_seconds`` of CPU time.

    Raises:
        AssertionError: the child was killed (over its CPU time), or the function raised
            (the message holds its traceback).
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the test process's code
        status = 1
        try:
            os.close(read_end)
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
            try:
                answer: tuple[bool, object] = (True, function(*args))
            except BaseException:
                answer = (False, traceback.format_exc())
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(pickle.dumps(answer))
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()  # until the child exits
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        raise AssertionError(
            f"killed by {name} after {cpu_seconds} s of CPU time: not linear in its input"
        )
    assert os.WEXITSTATUS(status) == 0 and data, f"the child failed (exit status {status})"
    ok, value = pickle.loads(data)
    assert ok, f"the function raised in the child:\n{value}"
    return cast(T, value)
