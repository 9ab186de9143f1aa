"""Contract fuzzing: schemathesis generates requests for every operation of openapi.yaml, a live server
answers them, and every answer is checked.

Who sends a case (an `Actor`):
- `anonymous`: no token of ours; the Authorization values schemathesis generates (the security scheme
  is a parameter to it) go through as they are, so the Bearer parser is fuzzed too;
- `user`: a valid token of a signed-up user on every case (on introspection, which wants a client's HTTP
  Basic credentials instead, the fuzz client's: INTROSPECTION_CLIENT below);
- `admin`: a valid token of an admin, on the admin operations.
A token an earlier case may have revoked (logout, logout-all, revoking a token by id) is replaced
before the next case, and an authenticated case answered 401 (or, for the admin, 403) is itself a
failure: the case would have tested the guard instead of the operation. An admin case that demotes or
deactivates one of the fuzzer's own accounts is undone by another admin at once, for the same reason.

What is sent, in two phases, as the schemathesis CLI does:
1. coverage: schemathesis' deterministic cases for each operation (boundary values, every wrong JSON
   type in every field, missing required fields, a missing Authorization, undocumented methods, a
   malformed Content-Type), each sent once; those that break the Authorization header by the anonymous
   actor, the others by the actor the operation is for;
2. fuzzing: Hypothesis-driven positive cases (valid per the schema) and negative ones (violating it),
   for each actor and operation, until the requested number of cases is reached. A quarter of the
   positive cases are "live": their key values are made real just before sending (a real refresh token,
   the id of a real token, a correctly signed verification link, real credentials, a fresh registration)
   while the rest stays generated, so success paths are fuzzed as well as refusals.

What is checked on every response: schemathesis' not_a_server_error, status_code_conformance,
content_type_conformance, response_schema_conformance and response_headers_conformance, then the
suite's own contract checker (tests/support/openapi.py: the rules that hold on every path, such as
405 + Allow for an undocumented method, and rate-limit headers only where documented). A failure
names the case and how to reproduce it with curl (tokens masked by schemathesis' sanitizer).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import secrets
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
import schemathesis
import schemathesis.checks
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode, Response
from schemathesis.config import OutputConfig, SanitizationConfig
from schemathesis.errors import FailureGroup

from sanctum_py.core.signed_urls import verification_url
from tests.support.contract import WireResponse
from tests.support.openapi import SPEC_FILE, check_response
from tests.support.servers import LiveServer, finish

CHECKS = [
    getattr(schemathesis.checks, name)
    for name in (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    )
]
# Explicit, so no schemathesis.toml met on the way up from the working directory applies. Reproductions
# mask tokens and secrets (live ones are real credentials) but show passwords: the fuzzer's are junk or
# the fixed PASSWORD below, and a password of the wrong type is often the very point of a failing case.
CONFIG = schemathesis.Config(
    output=OutputConfig(
        sanitization=SanitizationConfig(
            keys_to_sanitize=("authorization", "cookie", "set-cookie"), sensitive_markers=("token", "secret")
        )
    )
)
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
REQUEST_TIMEOUT = 15
PASSWORD = "fuzz-password-123"
FAILURES_PER_OPERATION = 3  # one bug tends to fail many cases of an operation: show a few, count all
# Cases of these operations may revoke the token that sent them.
TOKEN_KILLERS = frozenset({"logout", "logoutAll", "revokeToken"} | {"v1Logout", "envLogout"})
# Fortify's `throttle:6,1` on these two, per user and not a setting: rotate to a fresh user before it bites.
VERIFICATION_OPERATIONS = frozenset({"sendVerificationEmail", "verifyEmail", "verifyEmailHead"})
VERIFICATION_BUDGET = 6
# Run after the other two-factor operations, so those see an enabled setup in forward passes and a
# disabled one in reversed passes.
RUN_LAST = ("disableTwoFactor",)
# Operations whose positive cases can be made "live" (see _make_live): one in LIVE_SHARE is.
LIVE_OPERATIONS = frozenset(
    {"register", "login", "deviceToken", "refresh", "revokeToken", "updateUser", "verifyEmail", "confirmPassword"}
    | {"envRegister", "envLogin", "envRefresh"}  # the envelope dialect (seed 003)
    | {"introspectToken"}  # the gateway wire: a real access token to introspect
)
LIVE_SHARE = 4
# The signed-in actors' Authorization in strategies; the real token replaces it when the case is sent.
LIVE_BEARER = {"Authorization": "Bearer 1|live"}
# The introspection client the fuzzed server is configured with (INTROSPECTION_CLIENTS holds its SHA-256); the
# signed-in actors present it on operations secured by HTTP Basic.
INTROSPECTION_CLIENT = ("fuzz-client", "fuzz-introspection-secret-4f1c2b7d9e")
LIVE_BASIC = {"Authorization": "Basic " + base64.b64encode(":".join(INTROSPECTION_CLIENT).encode()).decode()}


def introspection_clients_setting() -> str:
    client_id, secret = INTROSPECTION_CLIENT
    return f"{client_id}:sha256:{hashlib.sha256(secret.encode()).hexdigest()}"


@dataclass
class Account:
    user_id: int
    username: str
    email: str
    role: str = "user"
    token: str | None = None  # a live access token; None when a case may have revoked it
    verification_calls: int = 0


@dataclass(eq=False)  # one object per actor, hashed by identity
class Actor:
    name: str
    account: Account | None  # None: anonymous
    fuzzes: Callable[[APIOperation], bool]


@dataclass
class Report:
    cases: int = 0
    coverage_cases: int = 0
    seconds: float = 0.0
    per_actor: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    failed_cases: Counter[str] = field(default_factory=Counter)

    def fail(self, where: str, text: str) -> None:
        self.failed_cases[where] += 1
        if self.failed_cases[where] <= FAILURES_PER_OPERATION:
            self.failures.append(f"[{where}]\n{text}")

    def summary(self) -> str:
        actors = ", ".join(f"{name} {count}" for name, count in sorted(self.per_actor.items()))
        failed = sum(self.failed_cases.values())
        return (
            f"{self.cases} cases ({self.coverage_cases} coverage, {self.cases - self.coverage_cases} fuzzed; "
            f"{actors}) in {self.seconds:.1f} s, {failed} failed"
        )

    def status_table(self) -> str:
        return "\n".join(f"  {count:5} x {what}" for what, count in sorted(self.statuses.items()))


def operation_id(operation: APIOperation) -> str:
    return str(operation.definition.raw["operationId"])


def is_secured(operation: APIOperation) -> bool:
    return bool(operation.definition.raw.get("security"))


def uses_basic(operation: APIOperation) -> bool:
    """Secured by HTTP Basic (a client's credentials), not by a user's Bearer token."""
    return any("basicAuth" in requirement for requirement in operation.definition.raw.get("security") or [])


def credentials(operation: APIOperation, token: str) -> dict[str, str]:
    """What a signed-in actor sends: its token, or the fuzz client's credentials where Basic is wanted."""
    return LIVE_BASIC if uses_basic(operation) else {"Authorization": f"Bearer {token}"}


def has_negatable_input(operation: APIOperation, *, authenticated: bool) -> bool:
    """Whether a negative case can exist: a body or a parameter to violate. Path parameters do not
    count (any string fits `type: string`, the only kind here), nor, for a signed-in actor, the
    Authorization header, which is not the fuzzer's to break (the anonymous actor breaks it)."""
    parameters = [
        parameter
        for parameter in operation.iter_parameters()
        if parameter.location.value != "path" and not (authenticated and parameter.name == "Authorization")
    ]
    return bool(parameters) or bool(list(operation.body))


def breaks_authorization(case: Case) -> bool:
    """A coverage case whose point is a missing or malformed Authorization header."""
    return case.meta is not None and getattr(case.meta.phase.data, "parameter", None) == "Authorization"


@dataclass
class PendingAdmin:
    api: Api
    username: str
    process: subprocess.Popen[str]

    def account(self) -> Account:
        result = finish(self.process)
        assert result.returncode == 0, f"create-user failed: {result.stdout}{result.stderr}"
        created = Account(int(result.stdout.split()[2]), self.username, f"{self.username}@example.com", role="admin")
        self.api.accounts[created.user_id] = created
        return created


class Api:
    """The fuzzer's own calls: sign-ups, sign-ins and repairs, outside the fuzzed cases."""

    def __init__(self, server: LiveServer, session: requests.Session) -> None:
        self.server = server
        self.session = session
        self.accounts: dict[int, Account] = {}
        self._names = itertools.count(1)

    def _send(self, method: str, path: str, body: dict[str, Any], expected: int, token: str | None = None) -> Any:
        headers = {"Accept": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
        url = self.server.base_url + path
        response = self.session.request(method, url, json=body, headers=headers, timeout=REQUEST_TIMEOUT)
        assert response.status_code == expected, f"fuzzer setup: {method} {path} -> {response.status_code}"
        return response.json()

    def fresh_registration(self) -> dict[str, str]:
        username = f"fuzz{next(self._names)}x{secrets.token_hex(3)}"
        return {
            "name": "Fuzz",
            "username": username,
            "email": f"{username}@example.com",
            "password": PASSWORD,
            "password_confirmation": PASSWORD,
        }

    def register(self) -> Account:
        fields = self.fresh_registration()
        body = self._send("POST", "/api/register", fields, 201)
        account = Account(body["data"]["id"], fields["username"], fields["email"], token=body["access_token"])
        self.confirm_password(account.token)
        self.accounts[account.user_id] = account
        return account

    def confirm_password(self, token: str | None) -> None:
        """The 2FA routes answer 423 to a token that did not confirm its password: confirm each one the
        fuzzer hands out, so their cases get past it."""
        if token is not None:
            self._send("POST", "/api/user/confirm-password", {"password": PASSWORD}, 201, token=token)

    def start_admin(self) -> PendingAdmin:
        """Admins exist only through the CLI (register cannot choose a role). The CLI is a Python process
        that takes seconds to start: started here, waited for by `PendingAdmin.account`."""
        username = f"admin{next(self._names)}x{secrets.token_hex(3)}"
        process = self.server.start_cli(
            "create-user",
            *("--name", "Admin", "--username", username, "--email", f"{username}@example.com", "--role", "admin"),
            extra_env={"SANCTUM_PASSWORD": PASSWORD},
        )
        return PendingAdmin(self, username, process)

    def promote(self, account: Account, by: Account) -> None:
        self._send("PATCH", f"/api/users/{account.user_id}", {"role": "admin"}, 200, token=self.token(by))
        account.role = "admin"

    def login(self, account: Account) -> dict[str, Any]:
        body: dict[str, Any] = self._send("POST", "/api/login", {"login": account.username, "password": PASSWORD}, 200)
        return body

    def token(self, account: Account) -> str:
        if account.token is None:
            account.token = str(self.login(account)["access_token"])
            self.confirm_password(account.token)
        return account.token

    def restore(self, changed_id: int) -> None:
        """Give one of the fuzzer's accounts its role back and reactivate it, as another admin."""
        changed = self.accounts[changed_id]
        fixer = next(a for a in self.accounts.values() if a.role == "admin" and a.user_id != changed_id)
        body = {"role": changed.role, "is_active": True}
        self._send("PATCH", f"/api/users/{changed_id}", body, 200, token=self.token(fixer))
        changed.token = None


def load_schema() -> BaseSchema:
    return schemathesis.openapi.from_path(SPEC_FILE, config=CONFIG)


def is_admin_operation(operation: APIOperation) -> bool:
    return "admin" in (operation.tags or [])


class Fuzzer:
    def __init__(self, server: LiveServer, schema: BaseSchema, seed: int) -> None:
        self.server = server
        self.schema = schema
        self.seed = seed
        self.session = requests.Session()
        self.api = Api(server, self.session)
        self._pending_admin = self.api.start_admin()  # see run()
        operations = [result.ok() for result in schema.get_all_operations()]
        self.operations = sorted(operations, key=lambda operation: operation_id(operation) in RUN_LAST)
        self.report = Report()
        self.base = self.api.register()  # whose credentials the anonymous actor's live cases use
        self.victim = self.api.register()  # whom the admin's live cases change
        self.anonymous = Actor("anonymous", None, lambda operation: True)
        self.user = Actor("user", self.api.register(), lambda operation: True)
        self.admin = Actor("admin", None, is_admin_operation)  # its account comes from create-user
        self.actors = (self.anonymous, self.user, self.admin)

    def close(self) -> None:
        self.session.close()
        process = self._pending_admin.process
        if process.returncode is None:  # never waited for: the run stopped before the admin operations
            process.kill()
            finish(process)

    def run(self, target: int) -> Report:
        started = time.monotonic()
        # create-user runs while the other operations are covered; the admin operations wait for it.
        self._coverage([operation for operation in self.operations if not is_admin_operation(operation)])
        self.admin.account = self._pending_admin.account()
        self.api.promote(self.api.register(), by=self.admin.account)  # repairs the first admin if a case demotes it
        self._coverage([operation for operation in self.operations if is_admin_operation(operation)])
        self.report.coverage_cases = self.report.cases
        self._fuzz(target)
        self.report.seconds = time.monotonic() - started
        return self.report

    # --- phase 1: coverage ------------------------------------------------------------------------

    def _coverage(self, operations: list[APIOperation]) -> None:
        for operation in operations:
            config = self.schema.config.generation_for(operation=operation, phase="coverage")
            cases = self.schema.iter_coverage_cases(operation, generation_modes=list(MODES), generation_config=config)
            for case in cases:
                actor = self._coverage_actor(operation, case)
                try:
                    self._execute(actor, case)
                except (AssertionError, FailureGroup) as failed:
                    self.report.fail(f"{actor.name}, coverage, {operation.label}", str(failed))

    def _coverage_actor(self, operation: APIOperation, case: Case) -> Actor:
        if not is_secured(operation) or breaks_authorization(case):
            return self.anonymous
        return self.admin if is_admin_operation(operation) else self.user

    # --- phase 2: fuzzing -------------------------------------------------------------------------

    def _fuzz(self, target: int) -> None:
        """Two passes over every (actor, operation, mode), forward then in reverse order, then more
        passes over those whose inputs are not exhausted, until `target` cases in all were sent. The
        anonymous actor's cases of a secured operation all meet the guard (the coverage phase tried
        every kind of missing or broken Authorization): they get a quarter of a share."""
        slots = [
            (actor, operation, mode)
            for actor in self.actors
            for operation in self.operations
            if actor.fuzzes(operation)
            for mode in MODES
            if mode is GenerationMode.POSITIVE or has_negatable_input(operation, authenticated=bool(actor.account))
        ]
        weights = {slot: 0.25 if slot[0] is self.anonymous and is_secured(slot[1]) else 1.0 for slot in slots}
        pool = slots
        remaining = target - self.report.cases
        for number in itertools.count():
            if number >= 2 and (remaining <= 0 or not pool):
                break
            share = max(remaining, 0) / sum(weights[slot] for slot in pool) / (2 if number < 2 else 1)
            still_open = []
            for index, slot in enumerate(pool if number % 2 == 0 else list(reversed(pool))):
                budget = max(1, math.ceil(share * weights[slot]))
                executed = self._run_slot(*slot, budget=budget, seed=self.seed + 7919 * number + index)
                # Fewer cases than the budget: Hypothesis ran out of distinct inputs for this slot.
                if number == 0 or executed >= budget:
                    still_open.append(slot)
            pool = still_open
            if number >= 1:
                remaining = target - self.report.cases

    def _run_slot(self, actor: Actor, operation: APIOperation, mode: GenerationMode, *, budget: int, seed: int) -> int:
        executed = 0

        @hypothesis_seed(seed)
        @settings(
            max_examples=budget,
            deadline=None,
            database=None,
            phases=(Phase.explicit, Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(drawn=self._strategy(actor, operation, mode))
        def fuzz(drawn: tuple[bool, Case]) -> None:
            nonlocal executed
            executed += 1
            live, case = drawn
            self._execute(actor, case, live=live)

        try:
            fuzz()
        except Exception as error:  # the failure, shrunk by Hypothesis: keep going, report them all
            self.report.fail(f"{actor.name}, {mode.value}, {operation.label}", describe(error))
        return executed

    def _strategy(
        self, actor: Actor, operation: APIOperation, mode: GenerationMode
    ) -> st.SearchStrategy[tuple[bool, Case]]:
        """(live, case): whether to give the generated case real key values before sending it."""
        # A signed-in actor's Authorization header is ours (its value is set per case): fixed here, so
        # negative cases violate the operation's own inputs instead of dropping the token.
        headers = None if actor.account is None else (LIVE_BASIC if uses_basic(operation) else LIVE_BEARER)
        generated = operation.as_strategy(generation_mode=mode, headers=headers)
        can_be_live = mode is GenerationMode.POSITIVE and operation_id(operation) in LIVE_OPERATIONS
        live = (
            st.integers(0, LIVE_SHARE - 1).map(lambda pick: pick == LIVE_SHARE - 1) if can_be_live else st.just(False)
        )
        return st.tuples(live, generated)

    # --- one case ---------------------------------------------------------------------------------

    def _execute(self, actor: Actor, case: Case, *, live: bool = False) -> None:
        name = operation_id(case.operation)
        account = actor.account
        if account is not None and name in VERIFICATION_OPERATIONS:
            account = self._verification_account(actor)
        if live:
            self._make_live(case, account or self.base)
        headers = {} if account is None else credentials(case.operation, self.api.token(account))
        response = case.call(
            base_url=self.server.base_url, session=self.session, headers=headers, timeout=REQUEST_TIMEOUT
        )
        self.report.cases += 1
        self.report.per_actor[actor.name] += 1
        self.report.statuses[f"{actor.name} {case.method.upper()} {case.path} {response.status_code}"] += 1
        documented_method = case.method.upper() == case.operation.method.upper()  # coverage tries others
        if documented_method:
            self._after(account, name, response)

        case.validate_response(response, checks=CHECKS, headers=headers)
        try:
            check_response(_wire(case, response))
            if account is not None and is_secured(case.operation) and documented_method:
                refused = (401, 403) if actor is self.admin else (401,)
                assert response.status_code not in refused, (
                    f"the {actor.name}'s token was refused ({response.status_code}): this case tested the guard, "
                    "not the operation"
                )
        except AssertionError as failed:
            curl = case.as_curl_command(headers=dict(response.request.headers), base_url=self.server.base_url)
            raise AssertionError(f"{failed}\n\nReproduce with:\n\n    {curl}") from None

    def _verification_account(self, actor: Actor) -> Account:
        """Verification routes allow 6 calls a minute per user: a new user every 6 calls."""
        account = actor.account
        assert account is not None
        if account.verification_calls >= VERIFICATION_BUDGET:
            actor.account = account = self.api.register()
        account.verification_calls += 1
        return account

    def _after(self, account: Account | None, name: str, response: Response) -> None:
        if account is not None and name in TOKEN_KILLERS:
            account.token = None
        if name == "updateUser" and response.status_code == 200:
            changed = json.loads(response.content)["id"]
            if changed in self.api.accounts:
                self.api.restore(changed)

    def _make_live(self, case: Case, account: Account) -> None:
        """Give a generated case real key values: the other generated values stay, so success paths
        meet them too (a login with odd optional fields, a registration with an odd surname...)."""
        name = operation_id(case.operation)
        body = case.body if isinstance(case.body, dict) else {}
        if name == "register":
            case.body = {**body, **self.api.fresh_registration()}
        elif name == "login":
            case.body = {**body, "login": account.username, "password": PASSWORD}
        elif name == "deviceToken":
            case.body = {**body, "email": account.email, "password": PASSWORD}
        elif name == "confirmPassword":
            case.body = {**body, "password": PASSWORD}
        elif name == "refresh":
            case.body = {**body, "refresh_token": self.api.login(account)["refresh_token"]}
        elif name == "envRegister":
            fresh = self.api.fresh_registration()
            case.body = {**body, **{key: fresh[key] for key in ("username", "email", "password")}, "role": "user"}
        elif name == "envLogin":
            case.body = {k: v for k, v in body.items() if k != "tenantId"} | {
                "username": account.username,
                "password": PASSWORD,
            }
        elif name == "envRefresh":
            # A refresh token from a Laravel login: one table of refresh sessions behind every dialect.
            case.body = {**body, "refreshToken": self.api.login(account)["refresh_token"]}
        elif name == "introspectToken":
            case.body = {**body, "token": self.api.token(account)}
        elif name == "revokeToken":
            spare = str(self.api.login(account)["access_token"])
            case.path_parameters = {"id": spare.split("|", 1)[0]}
        elif name == "updateUser":
            case.path_parameters = {"id": str(self.victim.user_id)}
        elif name == "verifyEmail":
            link = verification_url(
                self.server.base_url,
                account.user_id,
                account.email,
                key=self.server.environment["APP_KEY"],
                now=int(time.time()),
            )
            parts = urlsplit(link)
            *_, user_id, email_hash = parts.path.split("/")
            case.path_parameters = {"id": user_id, "hash": email_hash}
            case.query = dict(parse_qsl(parts.query))


def _wire(case: Case, response: Response) -> WireResponse:
    """The response as tests/support/openapi.py checks it: the path and query actually requested."""
    url = urlsplit(response.request.url or "")
    headers = CIMultiDict((name, value) for name, values in response.headers.items() for value in values)
    path = url.path + (f"?{url.query}" if url.query else "")
    return WireResponse(case.method.upper(), path, response.status_code, CIMultiDictProxy(headers), response.content)


def describe(error: BaseException) -> str:
    """An error and, for Hypothesis' groups (several distinct failures, or a flaky one), each inside it."""
    text = str(error)
    if isinstance(error, BaseExceptionGroup):
        text += "".join(f"\n--- {describe(inner)}" for inner in error.exceptions)
    return text
