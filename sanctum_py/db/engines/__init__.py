"""Tortoise engines whose every database operation ends within a deadline.

Tortoise's stock clients wait as long as the driver does: asyncpg 60 s to connect and forever for
a query, asyncmy forever for a query, and both pools forever for a free connection. Behind a dead
network link (a black hole, not a refused connection) requests would then pile up without end. These
engines add the deadlines; the rest is Tortoise's client unchanged, selected in `db/setup.py`.
"""
