"""``anomalyforge serve``: an HTTP scoring service over a folder of signed models (FastAPI + uvicorn).

Endpoints (every one but ``GET /health`` needs ``Authorization: Bearer TOKEN``):

- ``GET /health``: liveness, no authentication, tells nothing about models or streams.
- ``GET /models``: the models (detector, channels and their names, training rows, threshold, version).
- ``POST /models/{name}/score``: score a batch (CSV body or JSON ``{"rows", "columns", "timestamps"}``):
  scores, flags, alert intervals (``core.intervals``).
- ``POST /streams`` opens a stream on a model; ``POST /streams/{id}/rows`` appends rows and returns the scores
  that became final (``core.stream``: equal to batch scoring); ``GET /streams/{id}`` and ``/alerts``;
  ``DELETE /streams/{id}`` scores the last steps and closes it. A row batch is committed to SQLite (WAL) before
  it is acknowledged and open streams are restored at start (``serve_store``); a batch sent again with the
  same ``first_row`` after a lost reply gets the same reply instead of being counted twice.

Who gets in: a bearer token (``$ANOMALYFORGE_TOKEN`` or ``--token-file``, compared with
``hmac.compare_digest``); the service refuses to listen on a non-loopback address without one, and on
loopback without one it makes a random token and writes it to ``STATE/token`` (mode 0600). Models load only
when signed with the service's key (``$ANOMALYFORGE_MODEL_KEY`` or ``--model-key-file``; ``anomalyforge sign``).
Model names cannot leave the models folder; bodies over ``--max-body-mb`` get 413 before they are read; model
files are safetensors + JSON (nothing is unpickled) and stream state is npz read with ``allow_pickle=False``.
Every error is JSON ``{"error": message, "status": code}``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from anomalyforge.apps.serve_models import ApiError, ModelCatalog, parse_rows, score_batch
from anomalyforge.apps.serve_store import StreamStore
from anomalyforge.apps.serve_streams import StreamManager

__all__ = ["ServeConfig", "create_app", "run_server", "TOKEN_ENV"]

TOKEN_ENV = "ANOMALYFORGE_TOKEN"
_MIN_TOKEN = 16
log = logging.getLogger("anomalyforge.serve")


# ------------------------------------------------------------------------------------------- config
@dataclass
class ServeConfig:
    """What ``serve`` runs with (``from_args`` checks the command line's choices)."""

    models: Path
    state: Path
    token: str
    model_key: bytes
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 8 << 20
    max_streams: int = 256
    public_docs: bool = False
    log_level: str = "info"

    @classmethod
    def from_args(cls, args: Any) -> ServeConfig:
        from anomalyforge.core.persistence import MODEL_KEY_ENV, model_key

        key = model_key(key_file=args.model_key_file)
        if key is None:
            raise ValueError(f"serve loads only signed models: set ${MODEL_KEY_ENV} or pass --model-key-file F "
                             "(the key the models were signed with: `anomalyforge sign MODEL`)")  # fmt: skip
        if not Path(args.models).is_dir():
            raise ValueError(f"--models {args.models}: no such folder")
        if args.max_body_mb <= 0 or args.max_streams < 1:
            raise ValueError("--max-body-mb must be > 0 and --max-streams >= 1")
        state = Path(args.state)
        token = read_token(args.token_file)
        if token is None:
            if not is_loopback(args.host):
                raise ValueError(f"refusing to listen on {args.host} (not a loopback address) without a token: set "
                                 f"${TOKEN_ENV} or pass --token-file F")  # fmt: skip
            token = secrets.token_urlsafe(32)
            state.mkdir(parents=True, exist_ok=True)
            path = state / "token"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(token + "\n")
            print(f"anomalyforge serve: no token given; generated one for this run in {path} (mode 0600)",
                  file=sys.stderr)  # fmt: skip
        return cls(models=Path(args.models), state=state, token=token, model_key=key, host=args.host, port=args.port,
                   max_body_bytes=int(args.max_body_mb * (1 << 20)), max_streams=args.max_streams,
                   public_docs=args.public_docs, log_level=args.log_level)  # fmt: skip


def read_token(token_file: str | None) -> str | None:
    """The bearer token from ``token_file`` (whitespace stripped) or ``$ANOMALYFORGE_TOKEN``; None if neither."""
    if token_file is not None:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read --token-file {token_file}: {exc.strerror}") from None
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        if token_file is not None:
            raise ValueError(f"--token-file {token_file} is empty")
        return None
    if len(token) < _MIN_TOKEN:
        raise ValueError(f"the token is {len(token)} characters; use at least {_MIN_TOKEN} random ones "
                         "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")  # fmt: skip
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


# ------------------------------------------------------------------------------------- request bodies
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class RowsBody(BaseModel):
    """Rows to score: ``rows[i][j]`` is channel ``columns[j]`` (default: the model's channel order) at step i."""

    model_config = ConfigDict(extra="forbid")
    rows: list[list[Finite]] = Field(min_length=1, description="rows of finite numbers, one value per channel")
    columns: list[str] | None = Field(None, min_length=1, description="channel names of the row values (any order)")
    timestamps: list[str] | None = Field(None, description="one timestamp per row, echoed in alerts")


class AppendBody(RowsBody):
    first_row: int | None = Field(
        None, ge=0, description="index of this batch's first row in the stream: a batch sent again after a lost "
        "reply gets the same reply, not counted twice",
    )  # fmt: skip


class OpenStreamBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description="model name (GET /models)")
    max_gap: int = Field(0, ge=0, le=1_000_000, description="unflagged steps allowed inside one alert")
    min_length: int = Field(1, ge=1, le=1_000_000, description="shortest alert kept, in steps")
    timestamps: bool = Field(False, description="every batch brings timestamps")


class ErrorBody(BaseModel):
    error: str
    status: int


_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 415, 422, 429)}


def _body_doc(model: type[BaseModel], csv: bool) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": model.model_json_schema()}}
    if csv:
        doc = "a header line with the channel names (and the timestamp column), then one row per line"
        content["text/csv"] = {"schema": {"type": "string", "minLength": 1, "description": doc}}
    return {"requestBody": {"required": True, "content": content}}


_bearer = HTTPBearer(auto_error=False, description="the service token ($ANOMALYFORGE_TOKEN or --token-file)")


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes (--max-body-mb)")


class BodyLimit:
    """ASGI middleware: 413 for a declared ``Content-Length`` over the limit (nothing read), and for a chunked
    body as soon as it passes the limit."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            status, msg = (413, BodyTooLarge(self.max_bytes).detail) if declared.isdigit() else \
                (400, "Content-Length is not a number")  # fmt: skip
            await JSONResponse({"error": msg, "status": status}, status_code=status,
                               headers={"Connection": "close"})(scope, receive, send)  # fmt: skip
            return
        seen = 0

        async def limited() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)


async def _read_rows(request: Request, schema: Any, body_model: type[RowsBody]) -> tuple[Any, ...]:
    body = await request.body()
    if not body.strip():
        raise ApiError(422, "the request body is empty: send JSON {\"rows\": [[...], ...]} or a CSV with a header")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "text/csv":
        X, stamps, notices = parse_rows(body, "text/csv", schema)
        return X, stamps, notices, None
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise ApiError(415, f"Content-Type {ctype or '(none)'!r} is not accepted: send application/json or text/csv")
    try:
        parsed = body_model.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    X, stamps, notices = parse_rows(body, "application/json", schema, columns=parsed.columns, rows=parsed.rows,
                                    timestamps=parsed.timestamps)  # fmt: skip
    return X, stamps, notices, parsed


# ------------------------------------------------------------------------------------------------ app
def create_app(config: ServeConfig) -> FastAPI:
    """The FastAPI application (models verified with ``config.model_key``, streams restored from ``config.state``)."""
    import anomalyforge

    catalog = ModelCatalog(config.models, config.model_key)
    store = StreamStore(config.state)
    streams = StreamManager(catalog, store, config.max_streams)
    restored, refused = streams.restore()
    log.info("streams restored: %d, not restorable: %d", restored, refused)

    app = FastAPI(
        title="anomalyforge scoring service",
        version=anomalyforge.__version__,
        description=__doc__,
        docs_url=None, redoc_url=None, openapi_url=None,
    )  # fmt: skip
    app.state.streams, app.state.catalog, app.state.restored = streams, catalog, (restored, refused)
    expected = hashlib.sha256(config.token.encode()).digest()

    def require_token(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        if creds is None or creds.scheme.lower() != "bearer":
            raise ApiError(401, "missing bearer token: send the header 'Authorization: Bearer TOKEN'")
        if not hmac.compare_digest(hashlib.sha256(creds.credentials.encode()).digest(), expected):
            raise ApiError(401, "wrong bearer token")

    def error(status: int, message: str, **extra: Any) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"error": message, "status": status, **extra}, status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"where": ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body",
                     "message": e.get("msg", "invalid")} for e in exc.errors()]  # fmt: skip
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return error(400, f"malformed JSON: {problems[0]['message']}")
        summary = "; ".join(f"{p['where']}: {p['message']}" for p in problems[:5])
        return error(422, f"invalid request: {summary}", problems=problems[:50])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no endpoint {request.method} {request.url.path} (GET /docs lists them)"
        response = error(exc.status_code, message)
        response.headers.update(exc.headers or {})  # e.g. Allow on 405
        return response

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error(500, f"internal error ({type(exc).__name__}); the service keeps running, see its log")

    @app.get("/health", tags=["service"], summary="liveness (no token needed)")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    docs_deps = [] if config.public_docs else [Depends(require_token)]

    @app.get("/openapi.json", include_in_schema=False, dependencies=docs_deps)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=docs_deps)
    def docs() -> Any:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="anomalyforge scoring service")

    api = APIRouter(dependencies=[Depends(require_token)], responses=_ERRORS)

    @api.get("/models", tags=["models"], summary="models in the folder and what they were fitted on")
    def list_models() -> dict[str, Any]:
        return {"models": catalog.listing()}

    @api.post("/models/{name}/score", tags=["models"], summary="score a batch: scores, flags, alert intervals",
              openapi_extra=_body_doc(RowsBody, csv=True))  # fmt: skip
    async def score(
        name: str, request: Request, max_gap: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        min_length: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    ) -> dict[str, Any]:  # fmt: skip
        model = await run_in_threadpool(catalog.get, name)
        X, stamps, notices, _ = await _read_rows(request, model.schema, RowsBody)
        out = await run_in_threadpool(score_batch, model, X, stamps, max_gap, min_length)
        out["notices"] = notices + out["notices"]
        return out

    @api.post("/streams", tags=["streams"], status_code=201, summary="open a stream on a model")
    def open_stream(body: OpenStreamBody) -> dict[str, Any]:
        return streams.open(body.model, body.max_gap, body.min_length, body.timestamps)

    @api.post("/streams/{stream_id}/rows", tags=["streams"], openapi_extra=_body_doc(AppendBody, csv=True),
              summary="append rows; returns the scores that became final (committed before the reply)")  # fmt: skip
    async def append_rows(stream_id: str, request: Request) -> dict[str, Any]:
        session = await run_in_threadpool(streams.session, stream_id)
        X, stamps, notices, parsed = await _read_rows(request, session.model.schema, AppendBody)
        first_row = getattr(parsed, "first_row", None)
        if first_row is None and parsed is None:
            first_row = request.query_params.get("first_row")
            if first_row is not None and not first_row.isdigit():
                raise ApiError(422, f"first_row {first_row!r} is not a row index (an integer >= 0)")
            first_row = None if first_row is None else int(first_row)
        out = await run_in_threadpool(streams.append, stream_id, X, stamps, first_row)
        return {**out, "notices": notices + out["notices"]} if notices else out

    @api.get("/streams/{stream_id}", tags=["streams"], summary="a stream's counters and open alert")
    def stream_status(stream_id: str) -> dict[str, Any]:
        return streams.status(stream_id)

    @api.get("/streams/{stream_id}/alerts", tags=["streams"], summary="the alerts a stream has closed so far")
    def stream_alerts(stream_id: str) -> dict[str, Any]:
        return streams.alerts(stream_id)

    @api.delete("/streams/{stream_id}", tags=["streams"], summary="score the last steps and close the stream")
    def close_stream(stream_id: str) -> dict[str, Any]:
        return streams.close(stream_id)

    app.include_router(api)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    return app


def run_server(config: ServeConfig) -> None:
    """Serve until interrupted (one process: the streams live in its memory and in the state database)."""
    import uvicorn

    from anomalyforge.nn.training import default_threads

    try:
        import torch

        torch.set_num_threads(default_threads())
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(config)
    restored, refused = app.state.restored
    print(f"anomalyforge serve: http://{config.host}:{config.port} models {config.models} state {config.state} "
          f"(streams restored {restored}, not restorable {refused})", file=sys.stderr, flush=True)  # fmt: skip
    uvicorn.run(app, host=config.host, port=config.port, log_level=config.log_level, timeout_keep_alive=5,
                limit_concurrency=256, server_header=False)  # fmt: skip
