"""The teacher command language: `parse_command(text) -> Command | ParseError`, pure and without I/O."""

from bot.commands.grammar import DEFAULT_BOT_NAMES, MAX_TEXT_CHARS, USAGE, parse_command
from bot.commands.model import (
    BulkEntry,
    BulkGrade,
    Command,
    Excuse,
    Feedback,
    Grade,
    Help,
    ParseError,
    ParseErrorReason,
    Points,
    Reassign,
    Return,
    Sheet,
    SignOut,
    Status,
    StatusView,
    Undo,
)
from bot.commands.numbers import parse_points

__all__ = [
    "DEFAULT_BOT_NAMES",
    "MAX_TEXT_CHARS",
    "USAGE",
    "BulkEntry",
    "BulkGrade",
    "Command",
    "Excuse",
    "Feedback",
    "Grade",
    "Help",
    "ParseError",
    "ParseErrorReason",
    "Points",
    "Reassign",
    "Return",
    "Sheet",
    "SignOut",
    "Status",
    "StatusView",
    "Undo",
    "parse_command",
    "parse_points",
]
