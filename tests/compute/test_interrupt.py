"""A Ctrl-C that Python swallows (raised inside a finalizer) still stops training at the next step."""

import signal

import pytest

from headstart.compute import interrupt


def test_a_ctrl_c_swallowed_by_a_finalizer_is_still_seen():
    class Finalizer:
        def __del__(self):
            interrupt._handler(signal.SIGINT, None)  # what the signal does when it lands here

    try:
        Finalizer()  # its KeyboardInterrupt is printed as "Exception ignored" and dropped by Python
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
    finally:
        interrupt._requested.clear()
    interrupt.check()  # nothing requested: no interrupt
