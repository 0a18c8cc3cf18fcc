"""Persistence: SQLAlchemy Core tables and queries, one schema for SQLite and PostgreSQL."""
