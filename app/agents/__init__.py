"""The pipeline's stages: validate (logs.raw), persist (logs.events), count (logs.counts), dead-letter index
(logs.dlq), retention, the histogram counters' fold; each module's ``register(app)`` declares its part on the app."""
