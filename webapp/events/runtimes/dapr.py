"""The Dapr runtime (publishing through the sidecar; filled in by the event backbone work)."""
