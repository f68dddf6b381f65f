"""Typed async client for the Microsoft Graph education API."""
