"""The pipeline's stages: validate (logs.raw), persist (logs.events), count (logs.counts), dlq (logs.dlq)."""

from app.agents import count, dlq, persist, retention, validate  # noqa: F401
