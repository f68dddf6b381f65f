"""`python app.py` serves `create_production_app`: the assistant, with its start-up objects kept out of GC passes."""

from __future__ import annotations

import gc

from aiohttp import web

from app import create_production_app
from sandbox.run import World


async def test_start_up_objects_are_frozen_out_of_the_collector(world: World) -> None:
    gc.unfreeze()
    app = await create_production_app(world.settings)
    runner = web.AppRunner(app, access_log=None)
    assert gc.get_freeze_count() == 0
    await runner.setup()  # start-up: the background tasks, then the freeze
    try:
        assert gc.get_freeze_count() > 10_000  # modules, card templates, clients: everything built so far
    finally:
        await runner.cleanup()
        gc.unfreeze()  # the rest of the test session collects as usual
