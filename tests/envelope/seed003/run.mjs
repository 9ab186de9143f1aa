// Drives seed 003's client (client.ts, transpiled here with TypeScript) against a live server: register,
// login, refresh twice with the same refresh token, me, logout, and the refresh token dead after logout.
// Prints one JSON line per step; exits non-zero on the first surprise.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
const source = readFileSync(join(here, 'client.ts'), 'utf8');
const { outputText } = ts.transpileModule(source, {
  compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
});
writeFileSync(join(here, 'client.mjs'), outputText);
const { api, withAuth, login } = await import(join(here, 'client.mjs'));

const tenantId = process.env.TENANT_ID;
const steps = [];
function step(name, value) {
  steps.push(name);
  console.log(JSON.stringify({ step: name, value }));
}
function expect(condition, message) {
  if (!condition) {
    console.error(`FAILED after ${steps.join(', ')}: ${message}`);
    process.exit(1);
  }
}

const registered = await api.post('/auth/register', {
  tenantId, username: 'seeduser', email: 'seeduser@example.com', password: 'SeedSifre123', role: 'user',
});
expect(registered.status === 201, `register: ${registered.status}`);
expect(registered.data.success === true && registered.data.message === 'Kayıt başarıyla oluşturuldu', 'register envelope');
step('register', registered.data);

const signedIn = await login(tenantId, 'seeduser', 'SeedSifre123');
expect(signedIn.success === true && signedIn.message === 'Giriş başarılı', 'login envelope');
expect(typeof signedIn.data.user.id === 'string' && signedIn.data.user.role === 'user', 'login user');
step('login', signedIn);
const { token, refreshToken } = signedIn.data;

let latest = token;
for (const round of [1, 2]) {
  const refreshed = await api.post('/auth/refresh', { refreshToken });
  expect(refreshed.status === 200 && refreshed.data.message === 'Token yenilendi', `refresh ${round}`);
  expect(refreshed.data.data.token !== latest, `refresh ${round}: a new token`);
  latest = refreshed.data.data.token;
  step(`refresh${round}`, refreshed.data);
}

const me = await withAuth(latest).get('/auth/me');
expect(me.status === 200 && me.data.data.user.username === 'seeduser', 'me');
step('me', me.data);

const loggedOut = await withAuth(latest).post('/auth/logout');
expect(loggedOut.status === 204 && loggedOut.data === '', `logout: ${loggedOut.status}`);
step('logout', loggedOut.status);

try {
  await api.post('/auth/refresh', { refreshToken });
  expect(false, 'refresh after logout succeeded');
} catch (error) {
  expect(error.response?.status === 401, `refresh after logout: ${error.response?.status}`);
  expect(error.response.data.type === 'AUTHENTICATION_ERROR' && error.response.data.path === '/api/auth/refresh', 'failure envelope');
  step('refreshAfterLogout', error.response.data);
}

try {
  await login(tenantId, 'seeduser', 'wrong-password');
  expect(false, 'a wrong password signed in');
} catch (failure) {
  expect(failure.success === false && failure.type === 'AUTHENTICATION_ERROR', 'the fetch snippet throws the failure envelope');
  step('wrongPassword', failure);
}
console.log(JSON.stringify({ done: steps }));
