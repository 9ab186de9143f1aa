"""Checks every response the API suite receives against openapi.yaml.

The spec is parsed once per process and compiled into one schema validator per documented
(operation, status) and per header, so a check is a few dictionary lookups plus one jsonschema
pass: the suite calls it on every response it receives.

What is checked, in this order:
1. the response is allowed at all: a documented status of the documented operation (HEAD and
   OPTIONS are documented operations), or one of the rules that hold on every path
   (`info.description`; `components.responses` and the root extension `x-responses-on-every-path`):
   404 for undocumented paths, 405 + Allow for undocumented methods, 413 and 400 anywhere, 204 for a
   CORS preflight on a CORS path (`CORS_PATHS`: /api/*, /sanctum/token, /graphql by default); under
   /api/v1/ (the v1 dialect) the 404, 405 and 413 are its own `V1NotFound`, `V1MethodNotAllowed` and
   `V1PayloadTooLarge` (likewise `Env*` under /api/auth/ and `GraphQL*` under /graphql); a 405 or a
   router OPTIONS carries the path's methods in `Allow`;
2. documented headers: required ones present, every present one valid; rate-limit headers only
   where the response documents them (DESIGN §3: only responses that passed the throttle carry them).
   A HEAD answer is held to the GET's documented response for the same status: same headers;
3. the body: HEAD answers carry none; otherwise the documented media type and a JSON body that
   matches the schema.
Any mismatch raises AssertionError naming the request, the status and what is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import unquote, urlsplit

import yaml
from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS30Validator, oas30_format_checker

if TYPE_CHECKING:  # contract.py imports this module: a runtime import would be circular
    from tests.support.contract import WireResponse

SPEC_FILE = Path(__file__).resolve().parents[2] / "openapi.yaml"
OPERATION_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Documented on (nearly) every path, but never listed in `Allow` by their own documentation: HEAD follows
# GET, and OPTIONS is answered by the router (or the CORS preflight), as in Laravel.
IMPLIED_METHODS = frozenset({"HEAD", "OPTIONS"})
SHARED_EXTENSION = "x-responses-on-every-path"
# The order Laravel lists methods in a 405's Allow header and message.
LARAVEL_VERBS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
# Paths of the v1 dialect (seeds 000/001): the rules that hold on every path answer in its own shape there.
V1_PREFIX = "/api/v1/"
V1_SHARED = {"NotFound": "V1NotFound", "MethodNotAllowed": "V1MethodNotAllowed", "PayloadTooLarge": "V1PayloadTooLarge"}
# The GraphQL dialect (seed 002) owns /graphql and answers the same rules as GraphQL errors.
GRAPHQL_PREFIX = "/graphql"
GRAPHQL_SHARED = {
    "NotFound": "GraphQLNotFound",
    "MethodNotAllowed": "GraphQLMethodNotAllowed",
    "PayloadTooLarge": "GraphQLPayloadTooLarge",
}
# Paths of the envelope dialect (seed 003): likewise, in its failure envelope.
ENVELOPE_PREFIX = "/api/auth/"
ENVELOPE_SHARED = {
    "NotFound": "EnvNotFound",
    "MethodNotAllowed": "EnvMethodNotAllowed",
    "PayloadTooLarge": "EnvPayloadTooLarge",
}
# The gateway wire's two paths (introspection, forward auth): likewise, as `{"error": ...}`.
GATEWAY_PREFIXES = ("/oauth/introspect", "/auth/forward")
GATEWAY_SHARED = {
    "NotFound": "GatewayNotFound",
    "MethodNotAllowed": "GatewayMethodNotAllowed",
    "PayloadTooLarge": "GatewayPayloadTooLarge",
}
BODY_EXCERPT = 400


@dataclass(frozen=True)
class HeaderRule:
    name: str
    required: bool
    integer: bool  # header values are text: an integer schema is checked on int(value)
    validator: OAS30Validator


@dataclass(frozen=True)
class ExpectedResponse:
    """One documented response, compiled: where it is documented, its media type, body and headers."""

    source: str
    media_type: str | None
    body: OAS30Validator | None
    headers: tuple[HeaderRule, ...]

    def documents_header(self, name: str) -> bool:
        return any(rule.name.lower() == name.lower() for rule in self.headers)


@dataclass(frozen=True)
class Contract:
    operations: dict[tuple[str, str], dict[int, ExpectedResponse]]  # (METHOD, path) -> status -> response
    path_methods: dict[str, frozenset[str]]  # documented path -> its METHODS, HEAD and OPTIONS left out
    shared: dict[str, ExpectedResponse]  # components.responses and x-responses-on-every-path, by name


# --- loading -----------------------------------------------------------------------------------------


@cache
def load_spec() -> dict[str, Any]:
    """openapi.yaml as parsed; shared, so never mutate it."""
    with SPEC_FILE.open(encoding="utf-8") as handle:
        spec: dict[str, Any] = yaml.safe_load(handle)
    return spec


@cache
def resolved_spec() -> dict[str, Any]:
    """The spec with every local `$ref` replaced by its target, so each schema stands alone."""
    spec = load_spec()
    resolved: dict[str, Any] = resolve_refs(spec, spec)
    return resolved


def resolve_refs(node: Any, root: Mapping[str, Any]) -> Any:
    # OpenAPI 3.0 ignores a $ref's siblings, so replacing the whole node is exact. The spec has no
    # recursive schemas, so plain recursion terminates.
    if isinstance(node, dict):
        if "$ref" in node:
            return resolve_refs(_pointer(root, node["$ref"]), root)
        return {key: resolve_refs(value, root) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve_refs(item, root) for item in node]
    return node


def _pointer(root: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, got {ref!r}")
    target: Any = root
    for part in ref[2:].split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return target


def schema_validator(schema: Mapping[str, Any]) -> OAS30Validator:
    return OAS30Validator(schema, format_checker=oas30_format_checker)


@cache
def contract() -> Contract:
    raw, spec = load_spec(), resolved_spec()
    shared = {
        name: _compile(f"components.responses.{name}", response)
        for name, response in spec["components"]["responses"].items()
    }
    for name, response in spec[SHARED_EXTENSION].items():
        shared.setdefault(name, _compile(f"{SHARED_EXTENSION}.{name}", response))
    operations: dict[tuple[str, str], dict[int, ExpectedResponse]] = {}
    path_methods: dict[str, frozenset[str]] = {}
    for path, item in spec["paths"].items():
        methods = [method for method in item if method in OPERATION_METHODS]
        implied = IMPLIED_METHODS
        options_ok = raw["paths"][path].get("options", {}).get("responses", {}).get("200")
        if options_ok is not None and not options_ok.get("$ref", "").endswith("/RouterOptions"):
            implied = IMPLIED_METHODS - {"OPTIONS"}  # answered by a route of its own, so listed in Allow
        path_methods[path] = frozenset(method.upper() for method in methods) - implied
        for method in methods:
            responses = raw["paths"][path][method]["responses"]
            operations[(method.upper(), path)] = {
                int(status): _shared_or_compiled(shared, f"{method.upper()} {path} {status}", response, spec)
                for status, response in responses.items()
            }
    return Contract(operations, path_methods, shared)


def _shared_or_compiled(
    shared: Mapping[str, ExpectedResponse], source: str, response: Mapping[str, Any], spec: Mapping[str, Any]
) -> ExpectedResponse:
    """A `$ref` to a shared response is that very object (so `check_response` can tell which rule it is);
    anything else is compiled on its own."""
    ref = response.get("$ref", "")
    prefix = "#/components/responses/"
    if ref.startswith(prefix):
        return shared[ref.removeprefix(prefix)]
    return _compile(source, resolve_refs(response, spec))


def _compile(source: str, response: Mapping[str, Any]) -> ExpectedResponse:
    content = response.get("content") or {}
    if len(content) > 1:
        raise ValueError(f"{source}: one media type per response is all this checker knows")
    media_type, body = next(iter(content.items()), (None, None))
    headers = tuple(
        HeaderRule(
            name=name,
            required=bool(header.get("required", False)),
            integer=header["schema"].get("type") == "integer",
            validator=schema_validator(header["schema"]),
        )
        for name, header in (response.get("headers") or {}).items()
    )
    validator = schema_validator(body["schema"]) if body is not None else None
    return ExpectedResponse(source, media_type, validator, headers)


# --- checking ----------------------------------------------------------------------------------------


def check_response(response: WireResponse) -> None:
    """Raise AssertionError unless openapi.yaml documents this response exactly."""
    spec = contract()
    expected = _expected_response(spec, response)
    _check_headers(response, expected)
    _check_body(response, expected)
    if expected is spec.shared["MethodNotAllowed"]:
        _check_method_not_allowed(response, spec.path_methods[route_path(response.path)])
    elif expected in (
        spec.shared.get("V1MethodNotAllowed"),
        spec.shared.get("GraphQLMethodNotAllowed"),
        spec.shared.get("EnvMethodNotAllowed"),
        spec.shared.get("GatewayMethodNotAllowed"),
    ):
        allow = ", ".join(_answered_methods(spec.path_methods[route_path(response.path)]))
        _require(response, response.headers.get("Allow") == allow, f"Allow should be {allow!r}")
    elif expected is spec.shared["RouterOptions"]:
        allow = ",".join(_answered_methods(spec.path_methods[route_path(response.path)]))
        _require(response, response.headers.get("Allow") == allow, f"Allow should be {allow!r}")


def route_path(raw: str) -> str:
    """The documented path a request reached: no query, percent-decoded, one trailing slash dropped
    (Laravel's router, and ours, treat `/api/me/` as `/api/me`), and a concrete `/api/tokens/5`
    mapped onto its template `/api/tokens/{id}`."""
    path = unquote(urlsplit(str(raw)).path)
    path = path[:-1] if len(path) > 1 and path.endswith("/") else path
    for template, pattern in _templates():
        if pattern.fullmatch(path):
            return template
    return path


@cache
def _templates() -> list[tuple[str, re.Pattern[str]]]:
    """Documented paths with `{parameters}`, as patterns (a parameter is one path segment)."""
    templated = [path for path in resolved_spec()["paths"] if "{" in path]
    return [(path, re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)))) for path in templated]


def is_v1(raw: str) -> bool:
    """Whether a request path is under the v1 dialect's prefix."""
    return unquote(urlsplit(str(raw)).path).startswith(V1_PREFIX)


def is_envelope(raw: str) -> bool:
    """Whether a request path is under the envelope dialect's prefix."""
    return unquote(urlsplit(str(raw)).path).startswith(ENVELOPE_PREFIX)


def _shared(spec: Contract, name: str, response: WireResponse) -> ExpectedResponse:
    """A rule that holds on every path, in the shape of the dialect the path belongs to."""
    if is_v1(response.path) and name in V1_SHARED:
        return spec.shared[V1_SHARED[name]]
    if unquote(urlsplit(str(response.path)).path).startswith(GRAPHQL_PREFIX) and name in GRAPHQL_SHARED:
        return spec.shared[GRAPHQL_SHARED[name]]
    if is_envelope(response.path) and name in ENVELOPE_SHARED:
        return spec.shared[ENVELOPE_SHARED[name]]
    if unquote(urlsplit(str(response.path)).path).startswith(GATEWAY_PREFIXES) and name in GATEWAY_SHARED:
        return spec.shared[GATEWAY_SHARED[name]]
    return spec.shared[name]


def _expected_response(spec: Contract, response: WireResponse) -> ExpectedResponse:
    method, status = response.method.upper(), response.status
    path = route_path(response.path)
    operation = spec.operations.get((method, path))
    if operation is not None and status in operation:
        if method == "HEAD":  # documented as "the GET's headers": held to the GET's response itself
            return spec.operations[("GET", path)].get(status, operation[status])
        return operation[status]
    # Decided before routing: malformed HTTP, an oversized body, a CORS preflight.
    if status == 400:
        return spec.shared["BadRequest"]
    if status == 413:
        return _shared(spec, "PayloadTooLarge", response)
    # A preflight: anything under /api/, or any other path of CORS_PATHS (/sanctum/token, /graphql, ...),
    # recognised by the Vary on Access-Control-Request-Method that HandleCors puts on every preflight.
    if (
        method == "OPTIONS"
        and status == 204
        and (
            unquote(urlsplit(str(response.path)).path).startswith("/api/")
            or "Access-Control-Request-Method" in response.headers.get("Vary", "")
        )
    ):
        return spec.shared["CorsPreflight"]
    if path not in spec.path_methods:
        _require(
            response,
            status == 404,
            "the path is not in openapi.yaml, so only 404 is allowed "
            "(pages outside the API contract, such as /api/docs, are fetched with ContractClient.raw)",
        )
        return _shared(spec, "NotFound", response)
    if operation is None:
        allowed = ", ".join(sorted(spec.path_methods[path]))
        _require(response, status == 405, f"openapi.yaml documents only {allowed} here, so only 405 is allowed")
        return _shared(spec, "MethodNotAllowed", response)
    documented = ", ".join(str(code) for code in sorted(operation))
    _fail(response, f"status {status} is not documented for this operation (documented: {documented})")


def _check_headers(response: WireResponse, expected: ExpectedResponse) -> None:
    for rule in expected.headers:
        value = response.headers.get(rule.name)
        if value is None:
            _require(response, not rule.required, f"header {rule.name} is required ({expected.source})")
            continue
        _check_header_value(response, rule, value, expected.source)
    for name in RATE_LIMIT_HEADERS:
        _require(
            response,
            name not in response.headers or expected.documents_header(name),
            f"carries {name}, which {expected.source} does not document "
            "(only responses that passed the throttle carry rate-limit headers)",
        )


def _check_header_value(response: WireResponse, rule: HeaderRule, value: str, source: str) -> None:
    instance: Any = value
    if rule.integer:
        try:
            instance = int(value)
        except ValueError:
            _fail(response, f"header {rule.name}: {value!r} is not an integer ({source})")
    error = best_match(rule.validator.iter_errors(instance))
    _require(response, error is None, f"header {rule.name}: {value!r}: {error and error.message} ({source})")


def _check_body(response: WireResponse, expected: ExpectedResponse) -> None:
    if expected.media_type is None:
        _require(response, response.body == b"", f"{expected.source} documents no body")
        return
    content_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    _require(
        response,
        content_type == expected.media_type,
        f"Content-Type is {content_type or 'missing'!r}, {expected.source} documents {expected.media_type!r}",
    )
    if response.method.upper() == "HEAD":  # same headers as GET, never a body (RFC 9110 §9.3.2)
        _require(response, response.body == b"", "a HEAD response must not carry a body")
        return
    if expected.media_type == "text/plain":
        body: Any = response.body.decode("utf-8")
    else:
        try:
            body = json.loads(response.body)
        except ValueError:
            _fail(response, f"the body is not JSON ({expected.source})")
    assert expected.body is not None  # a documented media type always has a schema here
    error = best_match(expected.body.iter_errors(body))
    if error is not None:
        where = "".join(f"[{part!r}]" for part in error.absolute_path) or "the body"
        _fail(response, f"{where} does not match {expected.source}: {error.message}")


def _answered_methods(methods: frozenset[str]) -> list[str]:
    """A path's methods as Laravel lists them: HEAD wherever GET, in Laravel's verb order."""
    answered = (methods | {"HEAD"}) if "GET" in methods else methods
    return [verb for verb in LARAVEL_VERBS if verb in answered]


def _check_method_not_allowed(response: WireResponse, methods: frozenset[str]) -> None:
    """Laravel's exact 405: Allow lists the path's methods and the message repeats it."""
    allow = ", ".join(_answered_methods(methods))
    _require(response, response.headers.get("Allow") == allow, f"Allow should be {allow!r}")
    if response.method.upper() != "HEAD":
        message = f"The {response.method.upper()} method is not supported for this route. Supported methods: {allow}."
        _require(response, json.loads(response.body) == {"message": message}, f"the message should be {message!r}")


def _require(response: WireResponse, condition: bool, reason: str) -> None:
    if not condition:
        _fail(response, reason)


def _fail(response: WireResponse, reason: str) -> NoReturn:
    excerpt = response.body[:BODY_EXCERPT]
    raise AssertionError(
        f"openapi.yaml contract: {response.method} {response.path} -> {response.status}: {reason}\n  body: {excerpt!r}"
    )
