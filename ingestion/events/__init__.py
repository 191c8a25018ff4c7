"""Event intake: discover event files, parse rows, land them in the raw tables exactly once."""

from ingestion.events.intake import (
    EventFileError,
    FileLoad,
    IntakeResult,
    discover_event_files,
    load_event_files,
)
from ingestion.events.parse import EventParser, ParsedEvent, Rejection, parse_event

__all__ = [
    "EventFileError",
    "EventParser",
    "FileLoad",
    "IntakeResult",
    "ParsedEvent",
    "Rejection",
    "discover_event_files",
    "load_event_files",
    "parse_event",
]
