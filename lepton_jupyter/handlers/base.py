"""The one base handler: JSON in through pydantic, JSON out, domain errors mapped to statuses."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from pydantic import BaseModel, ValidationError
from tornado import web

from ..errors import Invalid, LeptonError
from ..settings import ENV_PREFIX, Settings

ModelT = TypeVar("ModelT", bound=BaseModel)


def _accept(handler: LeptonHandler) -> None:
    """The no-op verb that :meth:`LeptonHandler.prepare`'s early authorization wraps."""


def _sends_body(request: Any) -> bool:
    length = request.headers.get("Content-Length", "0")
    return length != "0" or "Transfer-Encoding" in request.headers


@web.stream_request_body
class LeptonHandler(APIHandler):
    """Base of every lepton REST handler.

    Subclasses set ``auth_resource`` and decorate each verb with ``@web.authenticated``
    then ``@authorized``; they parse with :meth:`parse`, call a service and :meth:`reply`.
    Bodies stream in, so the caller is authenticated and authorized (the verb's own
    checks, made early) before a byte of the body is read, and no body may exceed
    :meth:`body_limit`.
    """

    auth_resource = "lepton"
    #: The setting that caps this route's body; the blob upload route names its own.
    body_limit_setting = "max_json_body_bytes"
    _body: bytearray

    def body_limit(self) -> int:
        """The largest body this route reads."""
        return int(getattr(self.lepton_settings, self.body_limit_setting))

    async def prepare(self) -> None:
        await super().prepare()
        self._body = bytearray()
        if self._finished or not _sends_body(self.request):
            return
        if self.current_user is None:
            raise web.HTTPError(403, "Authentication is required; the request body was not read.")
        await authorized(_accept)(self)
        limit = self.body_limit()
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise web.HTTPError(
                413,
                f"The request body ({declared} bytes) exceeds this route's limit of {limit} "
                f"bytes (c.LeptonApp.{self.body_limit_setting} / "
                f"{ENV_PREFIX}{self.body_limit_setting.upper()}).",
            )
        # A chunked body that grows past the limit makes tornado drop the connection.
        self.request.connection.set_max_body_size(limit)

    def data_received(self, chunk: bytes) -> None:
        self._body += chunk

    @property
    def body(self) -> bytes:
        """The request body as read (JSON routes); empty for a verb without one."""
        return bytes(getattr(self, "_body", b""))

    @property
    def lepton_settings(self) -> Settings:
        return self.settings["lepton_settings"]

    @property
    def username(self) -> str:
        user = self.current_user
        return getattr(user, "username", None) or str(user)

    def parse(self, model: type[ModelT]) -> ModelT:
        """The request body validated as ``model``; a bad body is a 400 naming the field."""
        try:
            text = (self.body or b"{}").decode("utf-8")
        except UnicodeDecodeError as e:
            raise Invalid(f"Request body is not UTF-8: {e}") from e
        try:
            data = json.loads(text)
            # A lone surrogate (\ud800) parses but can be neither stored nor sent back.
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except json.JSONDecodeError as e:
            raise Invalid(f"Request body is not valid JSON: {e}") from e
        except RecursionError:
            raise Invalid("Request body nests too deeply.") from None
        except UnicodeEncodeError as e:
            raise Invalid(f"Request body holds a lone surrogate ({e.reason}).") from e
        try:
            return model.model_validate(data)
        except ValidationError as e:
            raise Invalid(_describe(e)) from e

    def query(self, model: type[ModelT]) -> ModelT:
        """The query string validated as ``model``."""
        data = {k: self.get_query_argument(k) for k in self.request.query_arguments}
        try:
            return model.model_validate(data)
        except ValidationError as e:
            raise Invalid(_describe(e)) from e

    def reply(self, payload: Any, status: int = 200, location: str | None = None) -> None:
        self.set_status(status)
        if location:
            self.set_header("Location", location)
        self.finish(json.dumps(_jsonable(payload)))

    def reply_page(self, html: str) -> None:
        """A page, not JSON: shown with no scripts and no forms (APIHandler.finish stamps JSON)."""
        self.set_header("Content-Security-Policy", "sandbox; script-src 'none'")
        self.finish(html, set_content_type="text/html; charset=utf-8")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors as ``{"message": ..., "reason": ...}``; a traceback only reaches the log."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, LeptonError):
            status_code = exc.status
            message = exc.message
        elif isinstance(exc, web.HTTPError):
            text = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
            message = text or exc.reason or self._reason
        elif exc is not None:
            message = "Internal server error; the Jupyter server log has the details."
        else:
            message = self._reason
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message, "reason": self._reason}))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, LeptonError):
            self.log.info(
                "%s %s -> %s: %s",
                self.request.method,
                self.request.uri,
                value.status,
                value.message,
            )
            return
        super().log_exception(typ, value, tb)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "Invalid request: " + "; ".join(parts)


def _jsonable(payload: Any) -> Any:
    if isinstance(payload, BaseModel):
        return payload.model_dump(mode="json")
    if isinstance(payload, list | tuple):
        return [_jsonable(p) for p in payload]
    if isinstance(payload, dict):
        return {k: _jsonable(v) for k, v in payload.items()}
    return payload
