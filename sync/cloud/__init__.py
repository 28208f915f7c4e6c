"""The reference cloud ingest service: enrolment, chain-checked ingest, the verifiable log.

ingest.py checks batches (pure), store.py is the storage interface with sqlite_store.py and
postgres_store.py behind it, service.py the use cases, app.py the Starlette app, server.py runs
it under uvicorn, state.py owns the state dir (log key, admin token, origin), command.py the CLI.
"""
