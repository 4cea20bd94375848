import { currentIdToken } from './firebase';

/** The one error shape of docs/api.md; the schema does not describe error responses. */
export type ApiErrorBody = {
  code: string;
  message?: string;
  fields?: Record<string, string[]>;
};

export const API_BASE = '/api/v1/';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: Record<string, string[]>;

  constructor(status: number, body: ApiErrorBody) {
    super(body.message || defaultMessage(status, body.code));
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code;
    this.fields = body.fields ?? {};
  }
}

function defaultMessage(status: number, code: string): string {
  if (status === 0) return 'The server could not be reached. Check your connection and try again.';
  if (status === 401) return 'Your session has ended. Please sign in again.';
  if (status === 404) return 'Not found.';
  if (status === 413) return 'The upload is too large.';
  if (status === 429) return 'Too many requests. Please wait a moment and try again.';
  if (status === 503) return 'The service is temporarily unavailable. Please try again shortly.';
  return `Request failed (${code}).`;
}

type UnauthorizedHandler = (error: ApiError) => void;
let unauthorizedHandler: UnauthorizedHandler | null = null;

/** The app decides what "signed out" means (clear caches, go to sign-in); the client only reports it. */
export function setUnauthorizedHandler(handler: UnauthorizedHandler | null): void {
  unauthorizedHandler = handler;
}

function readCookie(name: string): string | null {
  const match = document.cookie.split('; ').find((part) => part.startsWith(`${name}=`));
  return match ? decodeURIComponent(match.slice(name.length + 1)) : null;
}

async function csrfToken(): Promise<string> {
  const fromCookie = readCookie('csrftoken');
  if (fromCookie) return fromCookie;
  const response = await fetch(`${API_BASE}auth/csrf/`, { credentials: 'same-origin' });
  if (!response.ok) throw await toApiError(response);
  const body = (await response.json()) as { csrfToken: string };
  return readCookie('csrftoken') ?? body.csrfToken;
}

async function toApiError(response: Response): Promise<ApiError> {
  let body: ApiErrorBody = { code: `http_${response.status}` };
  try {
    const parsed = (await response.json()) as Partial<ApiErrorBody>;
    if (parsed && typeof parsed.code === 'string') body = parsed as ApiErrorBody;
  } catch {
    // Proxies and crashed workers answer with HTML; the status alone then describes the failure.
  }
  return new ApiError(response.status, body);
}

/** A query parameter's value; a list repeats the parameter (`images=1&images=2`), as DRF's ListField reads it. */
export type QueryValue = string | number | boolean | undefined | readonly (string | number)[];

export function apiUrl(path: string, params?: Record<string, QueryValue>): string {
  const base = /^(https?:)?\//.test(path) ? path : `${API_BASE}${path}`;
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params ?? {})) {
    if (Array.isArray(value)) for (const item of value as readonly (string | number)[]) search.append(key, String(item));
    else if (value !== undefined && value !== '') search.set(key, String(value));
  }
  const query = search.toString();
  if (!query) return base;
  return `${base}${base.includes('?') ? '&' : '?'}${query}`;
}

export type RequestOptions = {
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  params?: Record<string, QueryValue>;
  json?: unknown;
  form?: FormData;
  signal?: AbortSignal;
  /** Sign-in reports bad credentials itself; it must not bounce the user to the page they are on. */
  skipUnauthorizedHandler?: boolean;
};

async function send(path: string, options: RequestOptions, forceTokenRefresh: boolean): Promise<Response> {
  const method = options.method ?? 'GET';
  const headers = new Headers({ Accept: 'application/json' });
  const token = await currentIdToken(forceTokenRefresh);
  if (token) {
    headers.set('Authorization', `Bearer ${token}`);
  } else if (method !== 'GET') {
    headers.set('X-CSRFToken', await csrfToken());
  }
  let body: BodyInit | undefined;
  if (options.form) {
    body = options.form;
  } else if (options.json !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(options.json);
  }
  try {
    return await fetch(apiUrl(path, options.params), {
      method,
      headers,
      body,
      credentials: 'same-origin',
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(0, { code: 'network_error' });
  }
}

/** One request through auth, CSRF and error mapping; resolves only for 2xx responses. */
export async function apiFetch(path: string, options: RequestOptions = {}): Promise<Response> {
  let response = await send(path, options, false);
  if (response.status === 401) {
    const first = await toApiError(response.clone());
    // The SDK refreshes tokens ahead of expiry, but a suspended laptop can wake with a stale one.
    if (first.code === 'token_expired') response = await send(path, options, true);
  }
  if (response.ok) return response;
  const error = await toApiError(response);
  const signedOut = error.status === 401 || (error.status === 403 && error.code === 'not_invited');
  if (signedOut && !options.skipUnauthorizedHandler) unauthorizedHandler?.(error);
  throw error;
}

export async function apiJson<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const response = await apiFetch(path, options);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const api = {
  get: <T>(path: string, params?: RequestOptions['params'], signal?: AbortSignal) =>
    apiJson<T>(path, { params, signal }),
  post: <T>(path: string, json?: unknown, options: Omit<RequestOptions, 'json' | 'method'> = {}) =>
    apiJson<T>(path, { ...options, method: 'POST', json }),
  patch: <T>(path: string, json: unknown) => apiJson<T>(path, { method: 'PATCH', json }),
  postForm: <T>(path: string, form: FormData) => apiJson<T>(path, { method: 'POST', form }),
  blob: async (path: string, signal?: AbortSignal) => (await apiFetch(path, { signal })).blob(),
};
