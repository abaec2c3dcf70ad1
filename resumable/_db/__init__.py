"""Shared SQL plumbing: engines, column types, dialect helpers (SQLite and PostgreSQL)."""
