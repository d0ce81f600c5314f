// REST calls with the session's token. A 401 means the token is no good any more: the page
// switches to its "get a new link" state instead of showing a broken panel. The session token
// lives in the tab's sessionStorage and travels in Authorization (why not a cookie: see
// src/auth/links.ts).

const TOKEN_KEY = 'iron-cage-token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Take the token from the URL fragment (`/#token=…`) into sessionStorage and remove it from the
 * address bar, so it is neither bookmarked nor shown on a projector.
 *
 * @example
 *   const token = adoptToken(); // null → show the login form
 */
export function adoptToken(): string | null {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    let t: string | null = null;
    try {
      t = decodeURIComponent(m[1]!);
    } catch {
      /* a mangled link: no token, the login form explains */
    }
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

/**
 * Take a one-time login link (`/#login=…`, what iron-cage prints) out of the address bar; null
 * when the URL carries none. It is worth nothing once exchanged (see exchangeLoginLink).
 */
export function takeLoginLink(): string | null {
  const m = /(?:^#|&)login=([^&]+)/.exec(location.hash);
  if (!m) return null;
  history.replaceState(null, '', location.pathname + location.search);
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return '';
  }
}

/**
 * Exchange a login link for a session token (POST /api/session). Throws an Error with the
 * server's reason (used already, expired, …) when it opens nothing.
 *
 * @example
 *   const link = takeLoginLink();
 *   if (link !== null) useNewToken(await exchangeLoginLink(link));
 */
export async function exchangeLoginLink(link: string): Promise<string> {
  const res = await fetch('/api/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ link }) });
  const json = await res.json().catch(() => null);
  if (!res.ok || typeof json?.token !== 'string') throw new Error(json?.error?.message ?? `the server answered ${res.status}`);
  return json.token;
}

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

let token: string | null = null;
let onUnauthorized: (message: string) => void = () => {};

export function useToken(t: string | null, unauthorized: (message: string) => void): void {
  token = t;
  onUnauthorized = unauthorized;
}

export function currentToken(): string | null {
  return token;
}

/**
 * JSON request to the API; throws ApiError with the server's message on a non-2xx answer.
 *
 * @example
 *   const costs = await api<Costs>(`/api/agents/${id}/costs`);
 *   await api('/api/agents/lg-1/budget', { method: 'POST', body: { limitUsd: 75 } });
 */
export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: reported below by status */
  }
  if (!res.ok) {
    if (res.status === 401) onUnauthorized(json?.error?.message ?? 'your token is no longer valid');
    throw new ApiError(res.status, json?.error?.code ?? 'http_error', json?.error?.message ?? `${res.status} ${res.statusText}`);
  }
  return json as T;
}
