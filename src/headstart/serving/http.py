"""What headstart's two web services (``serve`` and ``app``) share: whether an address is this machine's own, the
Host check that keeps a loopback service out of reach of DNS rebinding, and errors answered as one-line JSON."""

from __future__ import annotations

import ipaddress

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.middleware.trustedhost import TrustedHostMiddleware

from headstart.errors import HeadstartError
from headstart.serving.uploads import too_large

LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def guard_host(app: FastAPI, host: str) -> None:
    """Answer only requests for this machine's own names (and ``host``, the address bound): a web page elsewhere
    must not reach a loopback service through a DNS name rebound to 127.0.0.1."""
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=[*LOOPBACK_NAMES, host, f"[{host}]"])


def answer_errors(app: FastAPI) -> None:
    """A HeadstartError as 413 (over a limit) or 400, a bad query parameter as 400: ``{"detail": one line}``."""

    @app.exception_handler(HeadstartError)
    async def refused(request: Request, exc: HeadstartError):
        return JSONResponse({"detail": str(exc)}, status_code=413 if too_large(exc) else 400)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"detail": f"bad request parameter ({problems})"}, status_code=400)
