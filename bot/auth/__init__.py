"""Acting on the teacher's behalf: Teams SSO token validation, MSAL on-behalf-of and per-teacher token caches."""

from bot.auth.obo import AuthProblem, GraphToken, OboExchanger, admin_consent_url
from bot.auth.signin import (
    Credentials,
    SignInNeeded,
    SignInNotice,
    TokenExchangeOutcome,
    login_request_response,
    oauth_card,
    signin_failure_notice,
    verify_state_notice,
)
from bot.auth.sso import SsoIdentity, SsoRefusal, SsoRefusalReason, SsoValidator
from bot.auth.token_cache import TokenCacheStore

__all__ = [
    "AuthProblem",
    "Credentials",
    "GraphToken",
    "OboExchanger",
    "SignInNeeded",
    "SignInNotice",
    "SsoIdentity",
    "SsoRefusal",
    "SsoRefusalReason",
    "SsoValidator",
    "TokenCacheStore",
    "TokenExchangeOutcome",
    "admin_consent_url",
    "login_request_response",
    "oauth_card",
    "signin_failure_notice",
    "verify_state_notice",
]
