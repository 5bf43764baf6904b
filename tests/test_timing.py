"""best_seconds keeps the minimum over interleaved repeats and warms every callable up first."""

from __future__ import annotations

from cellclr_lib.timing import best_seconds


def test_best_seconds_warms_up_and_repeats() -> None:
    calls = {"a": 0, "b": 0}

    def make(name: str):
        def run() -> None:
            calls[name] += 1

        return run

    seconds = best_seconds({"a": make("a"), "b": make("b")}, repeats=3)
    assert calls == {"a": 4, "b": 4}
    assert set(seconds) == {"a", "b"} and all(0 <= s < 1 for s in seconds.values())
