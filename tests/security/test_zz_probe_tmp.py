import logging, time, asyncio
from tests.security.test_http import world, DANA  # noqa
async def test_probe(world, caplog):
    caplog.set_level(logging.DEBUG)
    teams = world.teams
    dana = teams.user(world.stack.user_id(DANA), DANA)
    teams._http = __import__("httpx").AsyncClient(timeout=120)
    t = time.monotonic()
    status, body = await teams.send_to_bot({**teams.message("", user=dana), "conversation": {}})
    print(status, body, time.monotonic() - t)
    print(teams.requests[-5:])
    for r in caplog.records[-40:]:
        print(r.name, r.levelname, r.getMessage()[:300])
