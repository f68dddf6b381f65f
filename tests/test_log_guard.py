"""The suite's log guard is itself tested: a student name or a token logged at INFO is caught."""

import logging

from tests.conftest import _forbidden_in_logs, _RecordKeeper  # pyright: ignore[reportPrivateUsage]


def test_a_logged_student_name_or_token_would_be_caught() -> None:
    keeper = _RecordKeeper()
    logger = logging.getLogger("bot.log_guard_probe")
    logger.addHandler(keeper)
    logger.propagate = False
    try:
        logger.setLevel(logging.DEBUG)
        logger.debug("Alice Smith at debug is allowed")
        logger.info("graded %s", "Alice Smith")
        logger.warning("token eyJhbGciOi")
    finally:
        logger.removeHandler(keeper)
        logger.propagate = True
    forbidden = _forbidden_in_logs()
    assert "Alice Smith" in forbidden
    leaks = [line for line in keeper.lines if any(word in line for word in forbidden)]
    assert len(leaks) == 2
