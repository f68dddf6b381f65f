"""`python app.py` serves `create_production_app`: the assistant, with its start-up objects kept out of GC passes and
the young generation collected less often."""

from __future__ import annotations

import gc

from aiohttp import web

from app import YOUNG_GENERATION_THRESHOLD, create_production_app
from sandbox.run import World


async def test_start_up_objects_are_frozen_out_of_the_collector(world: World) -> None:
    gc.unfreeze()
    thresholds = gc.get_threshold()
    app = await create_production_app(world.settings)
    runner = web.AppRunner(app, access_log=None)
    assert gc.get_freeze_count() == 0
    await runner.setup()  # start-up: the background tasks, then the freeze
    try:
        assert gc.get_freeze_count() > 10_000  # modules, card templates, clients: everything built so far
        assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, *thresholds[1:])
    finally:
        await runner.cleanup()
        gc.unfreeze()  # the rest of the test session collects as usual
        gc.set_threshold(*thresholds)
