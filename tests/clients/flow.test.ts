// register -> login -> me -> tokens -> revoke -> logout -> 401 on every dialect openapi.yaml documents, through
// a client generated from it at test time: openapi-typescript's types (schema.d.ts, next to this file) and
// openapi-fetch's runtime, unpatched. tests/test_generated_clients.py compiles this with tsc (so the calls
// below must type-check against the generated types) and runs it with `node --test` against a live server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

const baseUrl = process.env.SANCTUM_BASE_URL;
if (!baseUrl) throw new Error("SANCTUM_BASE_URL is not set");
const PASSWORD = "generated-client-123";
// What openapi-fetch sent: every request body must go out as JSON, the media type the contract offers.
const sentBodies: string[] = [];
const client = createClient<paths>({
  baseUrl,
  fetch: async (request: Request) => {
    if (request.body !== null) sentBodies.push(request.headers.get("content-type") ?? "(none)");
    return fetch(request);
  },
});

const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });
const unique = (prefix: string) => `${prefix}${randomBytes(4).toString("hex")}`;

async function laravelRegister(username: string): Promise<{ id: number; token: string }> {
  const registered = await client.POST("/api/register", {
    body: { name: "Gen", username, email: `${username}@example.com`, password: PASSWORD, password_confirmation: PASSWORD },
  });
  assert.equal(registered.response.status, 201);
  assert.ok(registered.data);
  return { id: registered.data.data.id, token: registered.data.access_token };
}

// GET /api/tokens then DELETE /api/tokens/{id} of `revoked` (not the caller's): the list shrinks by it.
async function listAndRevoke(token: string, revoked: string): Promise<void> {
  const listed = await client.GET("/api/tokens", bearer(token));
  assert.equal(listed.response.status, 200);
  assert.ok(listed.data);
  const ids = listed.data.data.map((row) => row.id);
  const revokedId = Number(revoked.split("|")[0]);
  assert.ok(ids.includes(revokedId), `token ${revokedId} is listed`);
  assert.equal(listed.data.data.filter((row) => row.current).length, 1);
  const revoke = await client.DELETE("/api/tokens/{id}", { params: { path: { id: String(revokedId) } }, ...bearer(token) });
  assert.equal(revoke.response.status, 200);
  assert.deepEqual(revoke.data, { message: "Token revoked." });
  const after = await client.GET("/api/tokens", bearer(token));
  assert.ok(after.data);
  assert.deepEqual(after.data.data.map((row) => row.id).sort(), ids.filter((id) => id !== revokedId).sort());
  const refused = await client.GET("/api/me", bearer(revoked));
  assert.equal(refused.response.status, 401);
}

test("Laravel's wire (/api/*)", async () => {
  const username = unique("tsl");
  const first = await laravelRegister(username);
  const login = await client.POST("/api/login", { body: { login: username, password: PASSWORD } });
  assert.equal(login.response.status, 200);
  assert.ok(login.data && "access_token" in login.data);
  const token = login.data.access_token;
  const me = await client.GET("/api/me", bearer(token));
  assert.equal(me.response.status, 200);
  assert.equal(me.data?.username, username);
  assert.equal(me.data?.id, first.id);
  await listAndRevoke(token, first.token);
  const logout = await client.POST("/api/logout", bearer(token));
  assert.equal(logout.response.status, 200);
  assert.deepEqual(logout.data, { message: "Logged out successfully" });
  const gone = await client.GET("/api/me", bearer(token));
  assert.equal(gone.response.status, 401);
  assert.deepEqual(gone.error, { message: "Unauthenticated." });
});

test("the v1 wire (/api/v1/auth/*)", async () => {
  const username = unique("tsv");
  const registered = await client.POST("/api/v1/auth/register", {
    body: { username, email: `${username}@example.com`, password: PASSWORD, name: "Gen", last_name: "Client" },
  });
  assert.equal(registered.response.status, 200);
  assert.equal(registered.data?.username, username);
  const signIn = async () => {
    const login = await client.POST("/api/v1/auth/login", { body: { username, password: PASSWORD } });
    assert.equal(login.response.status, 200);
    assert.ok(login.data && "token" in login.data);
    return login.data.token;
  };
  const other = await signIn();
  const token = await signIn();
  const me = await client.GET("/api/v1/auth/me", bearer(token));
  assert.equal(me.response.status, 200);
  assert.equal(me.data?.user_id, registered.data?.user_id);
  await listAndRevoke(token, other); // the tokens routes are Laravel's; a v1 token works there
  const logout = await client.POST("/api/v1/auth/logout", bearer(token));
  assert.equal(logout.response.status, 200);
  const gone = await client.GET("/api/v1/auth/me", bearer(token));
  assert.equal(gone.response.status, 401);
  assert.ok(gone.error && "error" in gone.error);
});

test("the envelope wire (/api/auth/*)", async () => {
  const username = unique("tse");
  const registered = await client.POST("/api/auth/register", {
    body: { username, email: `${username}@example.com`, password: PASSWORD },
  });
  assert.equal(registered.response.status, 201);
  assert.ok(registered.data);
  const other = registered.data.data.token;
  const login = await client.POST("/api/auth/login", { body: { username, password: PASSWORD } });
  assert.equal(login.response.status, 200);
  assert.ok(login.data);
  const token = login.data.data.token;
  const me = await client.GET("/api/auth/me", bearer(token));
  assert.equal(me.response.status, 200);
  assert.equal(me.data?.data.user.username, username);
  await listAndRevoke(token, other);
  const logout = await client.POST("/api/auth/logout", bearer(token));
  assert.equal(logout.response.status, 204);
  const gone = await client.GET("/api/auth/me", bearer(token));
  assert.equal(gone.response.status, 401);
  assert.equal(gone.error?.success, false);
});

test("GraphQL (/graphql)", async () => {
  const username = unique("tsg");
  const first = await laravelRegister(username); // the GraphQL schema has no registration
  const auth = await client.POST("/graphql", {
    body: {
      query: "mutation($u: String!, $p: String!) { auth(usernameoremail: $u, password: $p) { tokens { accessToken refreshToken } } }",
      variables: { u: username, p: PASSWORD },
    },
  });
  assert.equal(auth.response.status, 200);
  const tokens = (auth.data?.data as { auth: { tokens: { accessToken: string; refreshToken: string } } }).auth.tokens;
  const me = await client.POST("/graphql", { body: { query: "{ me { id username } }" }, ...bearer(tokens.accessToken) });
  assert.deepEqual(me.data?.data, { me: { id: String(first.id), username } });
  await listAndRevoke(tokens.accessToken, first.token); // a JWT works on Laravel's routes too
  const logout = await client.POST("/graphql", {
    body: {
      query: "mutation($a: String!, $r: String!) { logout(access_token: $a, refresh_token: $r) { success } }",
      variables: { a: tokens.accessToken, r: tokens.refreshToken },
    },
  });
  assert.deepEqual(logout.data?.data, { logout: { success: true } });
  const gone = await client.POST("/graphql", { body: { query: "{ me { id } }" }, ...bearer(tokens.accessToken) });
  assert.equal(gone.data?.errors?.[0]?.extensions.code, "UNAUTHENTICATED");
  const rest = await client.GET("/api/me", bearer(tokens.accessToken));
  assert.equal(rest.response.status, 401);
});

test("every request body went out as JSON", () => {
  assert.ok(sentBodies.length >= 12, `${sentBodies.length} bodies`);
  assert.deepEqual([...new Set(sentBodies)], ["application/json"]);
});
