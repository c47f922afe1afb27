"""What the stall benchmarks (batch_stall.py, mount_stall.py) measure: another client's
`jobman list --limit 1`, whole CLI process, in a loop."""
import statistics
import time


def list_latencies(daemon, seconds=None, until=None):
    """Latencies in seconds of `jobman list --limit 1` against `daemon` (a conftest.Daemon),
    one after another, for `seconds` or until the threading.Event `until` is set."""
    out = []
    deadline = time.monotonic() + (seconds or 0)
    while (until is None and time.monotonic() < deadline) or (until is not None and not until.is_set()):
        t = time.monotonic()
        daemon.cli("list", "--limit", "1")
        out.append(time.monotonic() - t)
    return out


def median_and_max_ms(latencies):
    return statistics.median(latencies) * 1000, max(latencies) * 1000
