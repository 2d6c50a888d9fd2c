"""The daemon's open fds, read tolerantly: an fd may close between listing
/proc/<pid>/fd and reading its link, which is not an error."""
import os
import time


def fd_targets(pid):
    d = "/proc/%d/fd" % pid
    out = []
    for f in os.listdir(d):
        try:
            out.append(os.readlink(os.path.join(d, f)))
        except FileNotFoundError:
            pass
    return sorted(out)


def settle_fds(pid, at_most, timeout):
    """Waits until |pid| holds at most |at_most| fds; returns the last count."""
    deadline = time.monotonic() + timeout
    while True:
        n = len(os.listdir("/proc/%d/fd" % pid))
        if n <= at_most or time.monotonic() >= deadline:
            return n
        time.sleep(0.1)
