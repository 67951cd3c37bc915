"""Persistence: SQLAlchemy 2 on SQLite (WAL) by default or PostgreSQL by URL; schema changes by Alembic."""
