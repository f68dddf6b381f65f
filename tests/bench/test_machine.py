"""The machine reference: a fixed loop's CPU time, so runs on a VM whose speed drifts can be compared."""

from __future__ import annotations

from bench import machine


def test_the_reference_is_the_cpu_time_of_a_fixed_loop() -> None:
    first, second = machine.reference_ms(), machine.reference_ms()
    assert first > 0 and second > 0
    assert 0.2 < first / second < 5  # the same work both times: only the machine's speed moves it
