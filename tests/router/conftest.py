"""Router tests reuse the action fixtures (in-process sandbox, real cards, memory store)."""

from tests.actions.conftest import cards, services, stack, turns

__all__ = ["cards", "services", "stack", "turns"]
