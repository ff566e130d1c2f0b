"""The API's route table: each endpoint is declared once, with its parameters, body and
responses; Flask routes, request loading, the OpenAPI document and the HTML reference
all come from that declaration."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, request

from crm.api import idempotency
from crm.api.schema import Field, FieldError, Schema, ValidationFailed
from crm.models.idempotency_key import IDEMPOTENCY_KEY_MAX_LENGTH

API_PREFIX = "/api/v1"
# Methods that may change data: each runs as one transaction, with an Idempotency-Key.
WRITE_METHODS = ("POST", "PATCH", "DELETE")
_PATH_PARAM = re.compile(r"{(\w+)}")


@dataclass
class Response:
    status: int
    description: str
    schema: dict | None = None  # JSON Schema or a $ref
    headers: dict[str, dict] = field(default_factory=dict)


@dataclass
class Endpoint:
    method: str
    path: str  # OpenAPI style: /contacts/{contact_id}
    name: str
    summary: str
    tag: str
    description: str
    path_params: dict[str, Field]
    query: dict[str, Field]
    body: Schema | None
    partial: bool
    responses: list[Response]
    public: bool = False
    header_params: list[dict] = field(default_factory=list)

    @property
    def operation_id(self) -> str:
        return self.name

    @property
    def anchor(self) -> str:
        return f"{self.method.lower()}-{self.name}"


PROBLEM = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "A message per invalid field (422 only).",
        },
        "request_id": {
            "type": "string",
            "description": "The request's reference, as in its X-Request-ID header (500 and "
                           "503 only): quote it when you report the error.",
        },
    },
    "required": ["type", "title", "status"],
}


class ApiSpec:
    """Collects endpoints and schemas; renders them as OpenAPI 3.1."""

    def __init__(self, blueprint: Blueprint, title: str, version: str, description: str):
        self.bp = blueprint
        self.title = title
        self.version = version
        self.description = description
        self.endpoints: list[Endpoint] = []
        self.components: dict[str, dict] = {"Problem": PROBLEM}

    def component(self, name: str, schema: dict) -> dict:
        """Register a named schema; return a $ref to it."""
        self.components[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}

    def body_component(self, schema: Schema, *, partial: bool = False) -> dict:
        name = schema.name
        if name not in self.components:
            self.components[name] = schema.json_schema(partial=partial)
        return {"$ref": f"#/components/schemas/{name}"}

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        ok: Response,
        description: str = "",
        query: dict[str, Field] | None = None,
        body: Schema | None = None,
        partial: bool = False,
        errors: tuple[int, ...] = (),
        public: bool = False,
        versioned: bool = False,
    ):
        """Declare an endpoint and route it. The view receives path ids, then query= (loaded)
        and body= (a function that loads it) when the endpoint has them.

        versioned: the resource carries an ETag (its representation's digest); a GET
        answers If-None-Match with 304, a PATCH or DELETE refuses a stale If-Match with
        412. The view does it (crm.api.views); this documents it.

        A write (POST, PATCH, DELETE) runs through crm.api.idempotency.write_once, which
        takes its Idempotency-Key and commits it: the view flushes and never commits."""
        path_names = _PATH_PARAM.findall(path)
        path_params = {name: Field("integer", required=True, description=f"The {name[:-3]}'s id")
                       for name in path_names}
        rule = API_PREFIX + _PATH_PARAM.sub(lambda m: f"<int:{m.group(1)}>", path)

        def decorator(view):
            name = view.__name__
            header_params: list[dict] = []
            success = ok
            if versioned and method != "DELETE":
                success = Response(ok.status, ok.description, ok.schema, {**ok.headers, "ETag": {
                    "schema": {"type": "string"},
                    "description": "The version of the resource returned: send it back in "
                                   "If-Match to change the resource only if nobody else "
                                   "has since."}})
            writes = method in WRITE_METHODS
            if writes:
                header_params.append({**_header_param(
                    idempotency.HEADER,
                    "Any string of your choosing (a UUID, say), "
                    f"{idempotency.KEY_RULE}, to send this write again safely: a request "
                    "sent again with the same key within the key's lifetime is answered "
                    "with the first answer (a 2xx), with "
                    f"`{idempotency.REPLAYED_HEADER}: true`, and changes nothing; one that "
                    "arrives while the first is still running waits for it. A 4xx or 5xx is "
                    "not kept: the request runs again. Keys are yours alone."),
                    "schema": {"type": "string", "minLength": 1,
                               "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH,
                               "pattern": idempotency.KEY_PATTERN}})
                success = Response(success.status, success.description, success.schema, {
                    **success.headers, idempotency.REPLAYED_HEADER: {
                        "schema": {"type": "string", "enum": ["true"]},
                        "description": "This answer is the one kept for the "
                                       f"{idempotency.HEADER} sent: the request was not "
                                       "run again."}})
            responses = [success]
            if versioned and method == "GET":
                header_params.append(_header_param(
                    "If-None-Match", "An ETag you hold: 304 (no body) while it is current."))
                responses.append(Response(304, "Not modified: the ETag in If-None-Match is "
                                               "still the resource's."))
            if versioned and method in ("PATCH", "DELETE"):
                header_params.append(_header_param(
                    "If-Match", "The ETag you read: the change is made only if the resource "
                                "is still that version (else 412). Without it the change is "
                                "made whatever happened since."))
                responses.append(Response(412, _ERROR_TEXT[412], _problem()))
            bad_request = _those_that_apply(
                ("The body is not JSON.", body is not None),
                (f"The {idempotency.HEADER} is not {idempotency.KEY_RULE}.", writes))
            if bad_request:
                responses.append(Response(400, bad_request, _problem()))
            if body is not None:
                responses.append(Response(415, "The Content-Type is not application/json.",
                                          _problem()))
            if not public:
                responses.append(Response(401, "No valid token was given.", _problem(),
                                          {"WWW-Authenticate": {"schema": {"type": "string"}}}))
            for status in errors:
                responses.append(Response(status, _ERROR_TEXT[status], _problem()))
            if path_params and 404 not in errors:
                responses.append(Response(404, _ERROR_TEXT[404], _problem()))
            invalid = _those_that_apply(
                (_ERROR_TEXT[422], bool(query) or body is not None),
                (f"The {idempotency.HEADER} was used for another request (method, path "
                 "or body).", writes))
            if invalid and 422 not in errors:
                responses.append(Response(422, invalid, _problem()))
            if not public:
                responses.append(Response(
                    429, "Too many requests with this token; wait and retry.", _problem(),
                    {"Retry-After": {"schema": {"type": "integer"},
                                     "description": "Seconds to wait."}}))
            endpoint = Endpoint(
                method=method, path=path, name=name, summary=summary, tag=tag,
                description=description, path_params=path_params, query=query or {},
                body=body, partial=partial, responses=sorted(responses, key=lambda r: r.status),
                public=public, header_params=header_params,
            )
            self.endpoints.append(endpoint)

            @functools.wraps(view)
            def wrapper(**view_args):
                kwargs: dict[str, Any] = {}
                if query is not None:
                    kwargs["query"] = load_query(query)
                if body is not None:
                    # Loaded when the view asks, after it has found the resource, so an
                    # id that is not the user's answers 404 whatever the body holds.
                    kwargs["body"] = functools.partial(load_body, body, partial)
                if writes:
                    return idempotency.write_once(lambda: view(**view_args, **kwargs))
                return view(**view_args, **kwargs)

            self.bp.add_url_rule(rule, endpoint=name, view_func=wrapper, methods=[method])
            return wrapper

        return decorator

    # -- OpenAPI --------------------------------------------------------------------

    def openapi(self, server_url: str = API_PREFIX) -> dict:
        paths: dict[str, dict] = {}
        for ep in self.endpoints:
            operation: dict[str, Any] = {
                "operationId": ep.operation_id,
                "summary": ep.summary,
                "tags": [ep.tag],
                "responses": {},
            }
            if ep.description:
                operation["description"] = ep.description
            parameters = [
                {"name": n, "in": "path", "required": True, "schema": f.json_schema()}
                for n, f in ep.path_params.items()
            ] + [
                {"name": n, "in": "query", "required": f.required, "schema": f.json_schema(),
                 **({"description": f.description} if f.description else {})}
                for n, f in ep.query.items()
            ] + ep.header_params
            if parameters:
                operation["parameters"] = parameters
            if ep.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {
                        "schema": self.body_component(ep.body, partial=ep.partial)}},
                }
            if not ep.public:
                operation["security"] = [{"bearerToken": []}]
            for r in ep.responses:
                entry: dict[str, Any] = {"description": r.description}
                if r.schema is not None:
                    media = "application/problem+json" if r.status >= 400 else "application/json"
                    entry["content"] = {media: {"schema": r.schema}}
                if r.headers:
                    entry["headers"] = r.headers
                operation["responses"][str(r.status)] = entry
            paths.setdefault(ep.path, {})[ep.method.lower()] = operation
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version,
                     "description": self.description},
            "servers": [{"url": server_url}],
            "paths": paths,
            "components": {
                "schemas": self.components,
                "securitySchemes": {
                    "bearerToken": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A personal access token created in Settings or "
                                       "with `crm token create`.",
                    }
                },
            },
        }


_ERROR_TEXT = {
    400: "A parameter cannot be used as sent; `detail` says why.",
    403: "The resource is visible to you but cannot be changed (a built-in).",
    404: "No such resource among yours.",
    409: "The action does not apply in the resource's current state.",
    412: "The resource changed since the version given in If-Match: read it again.",
    422: "Invalid fields; `errors` has a message per field.",
}


def _those_that_apply(*texts: tuple[str, bool]) -> str:
    """A response's description: the texts of the reasons that apply to the endpoint."""
    return " ".join(text for text, applies in texts if applies)


def _header_param(name: str, description: str) -> dict:
    return {"name": name, "in": "header", "required": False, "schema": {"type": "string"},
            "description": description}


def _problem() -> dict:
    return {"$ref": "#/components/schemas/Problem"}


def load_query(spec: dict[str, Field]) -> dict[str, Any]:
    """The query string loaded against its fields (absent ones are None)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, f in spec.items():
        raw = request.args.get(name)
        if raw is None:
            if f.required:
                errors[name] = "This parameter is required."
            values[name] = None
            continue
        try:
            values[name] = f.load_text(raw)
        except FieldError as exc:
            errors[name] = str(exc)
    if errors:
        raise ValidationFailed(errors)
    return values


class BadBody(Exception):
    """The request body is not JSON."""


class UnsupportedBody(Exception):
    """The request does not say its body is JSON (Content-Type)."""


def load_body(schema: Schema, partial: bool) -> dict:
    if not request.is_json:
        raise UnsupportedBody()
    try:
        data = request.get_json(silent=True, force=True)
    except RecursionError:  # nested deeper than the parser goes
        raise BadBody() from None
    if data is None:
        raw = request.get_data(cache=True)
        if raw.strip() != b"null":
            raise BadBody()
    return schema.load(data, partial=partial)
