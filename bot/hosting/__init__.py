"""Bot Framework hosting: inbound channel-token validation, kept outbound credentials, reused connector clients."""

from bot.hosting.channel_auth import ChannelAuthError, ChannelTokenValidator
from bot.hosting.connectors import NoUserTokenService, ReusingConnectorFactory, TeamsBotFrameworkAuthentication
from bot.hosting.credentials import BotCredentials, CachedCredentialsFactory, CredentialsError
from bot.hosting.endpoint import MAX_BODY_BYTES, MessagesEndpoint, activity_tenant, healthz

__all__ = [
    "MAX_BODY_BYTES",
    "BotCredentials",
    "CachedCredentialsFactory",
    "ChannelAuthError",
    "ChannelTokenValidator",
    "CredentialsError",
    "MessagesEndpoint",
    "NoUserTokenService",
    "ReusingConnectorFactory",
    "TeamsBotFrameworkAuthentication",
    "activity_tenant",
    "healthz",
]
