"""The fan-out benchmark reports figures within Teams' limits."""

from __future__ import annotations

from bench import fanout


def test_fan_out_to_a_thousand_students_stays_within_the_limits() -> None:
    figures = fanout.run()
    assert figures["fanout_peak_per_conversation_per_s"] <= 7
    assert figures["fanout_peak_per_tenant_per_s"] <= 25
    # 1,050 messages at 25 a second cannot take less than 41.96 simulated seconds, and should not take much more.
    assert 41.9 <= figures["fanout_1000_simulated_s"] <= 45
