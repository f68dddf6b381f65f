"""Every card template, rendered with its sample data, shown by the official Adaptive Cards renderer in Chromium
with the chat page's Teams-like host config: no parse or validation problems, and a click hands the button's verb and
data (with the card's inputs) to `onExecuteAction`. Screenshots go to build/screenshots/cards/."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bot.cards.renderer import CardLibrary
from bot.cards.views import VIEWS
from sandbox.teams import CHAT_DIRECTORY
from tests.browser.conftest import ADAPTIVECARDS, REPO_ROOT, SCREENSHOTS, Browser

CARDS = REPO_ROOT / "cards"

HARNESS = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="stylesheet" href="/chat.css">
<style>body { background: #f5f5f5; padding: 16px; } #host { width: 520px; }</style></head>
<body><div id="host" class="card"></div>
<script src="/vendor/adaptivecards.js"></script><script src="/chat.js"></script>
<script>
window.actions = [];
window.show = function (card) {
  const host = document.getElementById("host");
  host.innerHTML = "";
  window.actions = [];
  const rendered = SandboxChat.renderCard(card, (action) => window.actions.push(action));
  host.appendChild(rendered.element);
  return rendered.problems;
};
window.fillInputs = function () {
  document.querySelectorAll("#host input[type=number]").forEach((el) => { if (!el.value) el.value = "7"; });
  document.querySelectorAll("#host input[type=text], #host textarea")
    .forEach((el) => { if (!el.value) el.value = "Well argued."; });
  document.querySelectorAll("#host select").forEach((el) => {
    const option = Array.from(el.options).find((o) => o.value);
    if (option && !el.value) el.value = option.value;
  });
  document.querySelectorAll("#host input[type=radio]").forEach((el, i) => { if (i === 0) el.checked = true; });
  document.querySelectorAll("#host input, #host textarea, #host select").forEach((el) =>
    el.dispatchEvent(new Event("input", { bubbles: true })));
};
window.click = function (title) {
  const button = Array.from(document.querySelectorAll("#host .ac-pushButton"))
    .find((b) => (b.getAttribute("aria-label") || b.textContent).trim() === title);
  if (!button) return false;
  button.click();
  return true;
};
</script></body></html>"""


def sample_cards() -> dict[str, dict[str, Any]]:
    """Every template rendered with its sample, as the bot renders it."""
    library = CardLibrary.load(CARDS)
    cards: dict[str, dict[str, Any]] = {}
    for name in sorted(library.names):
        sample = json.loads((CARDS / "samples" / f"{name}.json").read_text(encoding="utf-8"))
        view = VIEWS.get(name)
        data = view.model_validate(sample).to_data() if view is not None else sample
        cards[name] = library.render(name, data)
    return cards


def first_execute(node: Any) -> dict[str, Any] | None:
    """The first Action.Execute in document order (not a fallback, not the refresh action)."""
    if isinstance(node, list):
        for item in node:
            found = first_execute(item)
            if found is not None:
                return found
    elif isinstance(node, dict):
        if node.get("type") == "Action.Execute":
            return node
        for key, value in node.items():
            if key not in ("fallback", "refresh"):
                found = first_execute(value)
                if found is not None:
                    return found
    return None


def input_ids(node: Any) -> list[str]:
    """Every input id in the card."""
    if isinstance(node, list):
        return [found for item in node for found in input_ids(item)]
    if isinstance(node, dict):
        own = [str(node["id"])] if str(node.get("type", "")).startswith("Input.") and "id" in node else []
        return own + [found for key, value in node.items() if key != "fallback" for found in input_ids(value)]
    return []


@pytest.fixture
async def harness() -> AsyncIterator[str]:
    """A tiny page on 127.0.0.1 with the renderer, the chat page's host config and styles."""

    files = {
        "/vendor/adaptivecards.js": ADAPTIVECARDS,
        "/chat.js": CHAT_DIRECTORY / "chat.js",
        "/chat.css": CHAT_DIRECTORY / "chat.css",
    }

    async def page(request: web.Request) -> web.StreamResponse:
        if request.path in files:
            return web.FileResponse(files[request.path])
        return web.Response(text=HARNESS, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


async def test_every_card_renders_and_its_button_hands_over_verb_and_data(browser: Browser, harness: str) -> None:
    page = await browser.new_page(width=600, height=900)
    await page.goto(harness, ready="typeof window.show === 'function' && !!window.SandboxChat")
    cards = sample_cards()
    clicked: list[str] = []
    for name, card in cards.items():
        problems = await page.evaluate(f"show({json.dumps(card)})")
        assert problems == [], f"{name}: {problems}"
        await page.screenshot(SCREENSHOTS / "cards" / f"{name}.png", selector="#host")

        button = first_execute(card)
        if button is None:
            continue
        await page.evaluate("fillInputs()")
        assert await page.evaluate(f"click({json.dumps(button['title'])})"), f"{name}: no [{button['title']}] button"
        actions = await page.wait_for("window.actions.length && window.actions", what=f"{name}: a click")
        action = actions[0]
        assert (action["type"], action["verb"]) == ("Action.Execute", button["verb"]), name
        for key, value in button["data"].items():
            assert action["data"][key] == value, f"{name}: data.{key}"
        for input_id in input_ids(card):
            assert input_id in action["inputs"], f"{name}: input {input_id} not handed over"
        clicked.append(name)

    assert page.errors == []
    assert {"result", "status", "grade_form", "grading_sheet", "confirm", "reassign_form"} <= set(clicked)
