"""Local stand-ins for Entra ID, the Graph education API and the Teams channel."""
