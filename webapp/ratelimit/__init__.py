"""Limits shared by every process on one database: request rates and login lockouts."""
