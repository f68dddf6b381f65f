"""Grading assistant for Microsoft Teams."""
