"""The Teams sign-in invokes, answered with `Credentials`: the edge's `bot.turn.SignInGate`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot import messages
from bot.auth.signin import (
    Credentials,
    SignInNeeded,
    login_request_response,
    signin_failure_notice,
    verify_state_notice,
)
from bot.settings import Settings
from bot.turn import Actor


class TeamsSignIn:
    """SSO token exchange, Universal Actions authentication and sign-in notices."""

    def __init__(self, settings: Settings, credentials: Credentials) -> None:
        self._settings = settings
        self._credentials = credentials

    async def token_exchange(self, value: Mapping[str, Any], actor: Actor) -> tuple[int, Mapping[str, Any], bool]:
        """Validate and exchange the SSO token once; 412 with failureDetail so Teams shows the sign-in button."""
        outcome = await self._credentials.handle_token_exchange(value, actor)
        return outcome.status, outcome.body, outcome.signed_in

    async def action_authentication(self, value: Mapping[str, Any], actor: Actor) -> Mapping[str, Any] | None:
        """Accept a retried card action's SSO token (channels), or answer with a 401 loginRequest."""
        result = await self._credentials.accept_action_authentication(value, actor)
        if isinstance(result, SignInNeeded):
            return login_request_response(self._settings, tenant_id=str(actor.tenant_id))
        return None

    async def notice(self, name: str, value: Mapping[str, Any]) -> str | None:
        """The sentence for a `signin/verifyState` or `signin/failure` invoke."""
        if name == "signin/verifyState":
            return messages.sign_in_notice(verify_state_notice(value).value)
        if name == "signin/failure":
            return messages.sign_in_notice(signin_failure_notice(value).value)
        return None
