"""The pure rules of logpipe: what comes in, what is valid, what is stored and asked for.

Nothing here opens a connection or imports faust, mode, aiokafka, aiohttp,
aiopg, psycopg2 or redis, so every rule is a table test without servers.
"""
