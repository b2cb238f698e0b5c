"""The pipeline's stages: validate (logs.raw), persist (logs.events), count (logs.counts)."""

from app.agents import count, persist, validate  # noqa: F401
