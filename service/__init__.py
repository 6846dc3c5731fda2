"""The build service (`doit serve`): a REST API, build records in SQLite, live events.

FastAPI and uvicorn are optional (the `service` extra): only `doit serve` imports them.
"""
