"""Delivery channels. Each raises on a failure worth retrying and `ChannelSkipped` otherwise."""

from __future__ import annotations


class ChannelSkipped(Exception):  # an outcome, not an error
    """Nothing was delivered and retrying would not help (not configured, no devices...)."""
