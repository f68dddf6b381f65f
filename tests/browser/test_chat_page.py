"""The sandbox chat page end to end in Chromium: a teacher types a command, Teams-style SSO signs her in, the card
appears and its buttons act on the sandbox Graph. Screenshots go to build/screenshots/ and, for the README,
docs/screenshots/."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from sandbox.run import World
from sandbox.teams import TeamsUser
from tests.browser.conftest import DOC_SCREENSHOTS, SCREENSHOTS, Browser, BrowserError, Page


def person(world: World, name: str) -> TeamsUser:
    user = world.teams.find_user(world.stack.user_id(name))
    assert user is not None
    return user


async def open_chat(browser: Browser, world: World, user: TeamsUser, *, height: int = 760) -> Page:
    page = await browser.new_page(width=1100, height=height)
    await page.goto(
        f"{world.chat_url}/?user={user.aad_object_id}", ready="document.querySelectorAll('#chat-list li').length"
    )
    return page


async def open_conversation(page: Page, title: str) -> None:
    await page.evaluate(
        "Array.from(document.querySelectorAll('.conversation-list li'))"
        f".find((li) => li.textContent.includes({json.dumps(title)})).click()"
    )
    await page.wait_for(f"document.getElementById('conversation-title').textContent === {json.dumps(title)}")


async def type_message(page: Page, text: str) -> None:
    await page.evaluate(
        f"document.getElementById('compose-input').value = {json.dumps(text)};"
        "document.getElementById('compose').requestSubmit()"
    )


def button_js(title: str) -> str:
    """The last card button with this title, as a JS expression."""
    return (
        "Array.from(document.querySelectorAll('.message.from-bot .card .ac-pushButton'))"
        f".filter((b) => b.textContent.trim() === {json.dumps(title)}).pop()"
    )


async def click(page: Page, title: str) -> None:
    await page.wait_for(f"!!({button_js(title)})", what=f"the [{title}] button")
    await page.evaluate(f"{button_js(title)}.click()")


async def until(condition: Callable[[], bool], what: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise BrowserError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def essay_2(world: World, student: str):
    stack = world.stack
    return stack.graph.submission_for(
        stack.class_id("Biology 101"), stack.assignment_id("Biology 101", "Essay 2"), stack.user_id(student)
    )


async def test_grade_then_return_from_the_chat_page(browser: Browser, world: World) -> None:
    dana = person(world, "Dana Whitfield")
    page = await open_chat(browser, world, dana)

    await type_message(page, "grade Alice Smith 85 on Essay 2 in Biology 101")
    await page.wait_for(f"!!({button_js('Return')})", what="the result card")
    await page.wait_for("document.querySelector('.oauth-state').textContent.includes('Signed in')")
    await page.screenshot(SCREENSHOTS / "chat-graded.png")
    await click(page, "Return")

    def returned() -> bool:
        submission = essay_2(world, "Alice Smith")
        return submission is not None and submission.status == "returned"

    await until(returned, "Alice's Essay 2 to be returned")
    await page.wait_for(f"!({button_js('Return')})", what="the card to be replaced")
    await page.screenshot(SCREENSHOTS / "chat-returned.png")
    submission = essay_2(world, "Alice Smith")
    assert submission is not None
    points = submission.outcome("points")
    assert points is not None and points.publishedPoints is not None and points.publishedPoints.points == 85
    assert len([i for i in world.teams.invokes if i.name == "signin/tokenExchange"]) == 1
    assert page.errors == []


async def test_readme_screenshots_reassign_in_a_channel_and_the_grading_sheet(browser: Browser, world: World) -> None:
    dana = person(world, "Dana Whitfield")
    page = await open_chat(browser, world, dana)

    await open_conversation(page, "Biology 101")
    await type_message(page, "reassign Bob Jones's Essay 2 with feedback: cite your sources")
    await page.wait_for("!!document.querySelector('.card.user-specific')", what="Dana's private view")
    await page.wait_for(f"!!({button_js('Add feedback')})", what="the reassign result")
    await page.screenshot(DOC_SCREENSHOTS / "reassign.png")
    bob = essay_2(world, "Bob Jones")
    assert bob is not None and bob.status == "reassigned"

    await open_conversation(page, "Grading assistant")
    await type_message(page, "status Essay 2 in Biology 101")
    await click(page, "Open grading sheet")
    await page.wait_for(f"!!({button_js('Save all')})", what="the grading sheet")
    needed = await page.evaluate("document.getElementById('messages').scrollHeight")
    await page.send(  # tall enough to show the whole sheet
        "Emulation.setDeviceMetricsOverride",
        {"width": 1100, "height": min(1800, int(needed) + 150), "deviceScaleFactor": 1, "mobile": False},
    )
    await page.wait_for("(m => m.scrollHeight <= m.clientHeight)(document.getElementById('messages'))")
    await page.screenshot(DOC_SCREENSHOTS / "grading-sheet.png")
    assert page.errors == []
