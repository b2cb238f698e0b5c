"""I/O at the edge: PostgreSQL, Redis and the broker's admin side."""
