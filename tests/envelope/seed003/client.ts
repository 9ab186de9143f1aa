// Seed 003's own client code, copied verbatim from ../shared/seeds/003_*.txt. The only change: the base
// URL. The seed's relative URLs ('/api/auth/login', baseURL '/api') resolve against the page in a
// browser; Node has no page, so SANCTUM_URL (the live server, set by test_seed_client.py) is put in front.
const SANCTUM_URL: string = process.env.SANCTUM_URL ?? '';

// --- "Örnek fetch" ---
async function login(tenantId: string, username: string, password: string) {
  const res = await fetch(SANCTUM_URL + '/api/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ tenantId, username, password, rememberMe: true })
  });
  if (!res.ok) throw await res.json();
  return res.json();
}

// --- "Örnek axios instance" ---
import axios from 'axios';
export const api = axios.create({ baseURL: SANCTUM_URL + '/api', headers: { 'Content-Type': 'application/json' } });
export function withAuth(token?: string) {
  return api.create({ baseURL: SANCTUM_URL + '/api', headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) } });
}

export { login };
