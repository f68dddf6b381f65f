from bot.turn import Reply
from tests.hosting.conftest import TEACHER, Harness
import pytest

async def test_throttled_send_leak(harness: Harness) -> None:
    channel = harness.channel
    teacher = channel.user(TEACHER, "Dana")
    await channel.send_to_bot(channel.message("x", user=teacher))
    channel.throttle(1)
    with pytest.raises(Exception):
        await harness.router.outboxes[0].send(Reply(text="later"))
