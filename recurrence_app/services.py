"""Writes to recurring series (filled in by the recurrence work)."""
