"""The bare-FastAPI baseline of bench/api/run.py: one GET route, nothing else.

A minimal FastAPI app (no middleware, no store, no auth) served by uvicorn with the
same loop and HTTP protocol ``vts-masking serve`` uses (uvloop, httptools; no access
log, no server header), in its own process:

    python bench/api/bare.py PORT

What it answers, ``GET /bare``, is the ceiling of this server stack on this machine:
the service's ``/health`` is the same stack plus the service's middleware, and a session
create or get adds auth, parsing, the store and the view on top.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()


@app.get("/bare")
async def bare() -> JSONResponse:
    return JSONResponse({"status": "ok", "version": "bare"})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="auto",  # uvloop, as serve (uvicorn's "auto")
        http="httptools",  # what serve's protocol class is built on
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="off",
    )
