/**
 * The CloudSigma API as the console speaks it: the login session's cookies (sent by the browser),
 * the CSRF token on every write, and `X-Requested-With: XMLHttpRequest`, so that a 401 comes
 * without `WWW-Authenticate` and the browser never opens its own login dialog.
 */

export const API = '/api/2.0';

/** One entry of CloudSigma's error array. */
export interface ApiErrorEntry {
  error_point: string | null;
  error_type: string;
  error_message: string;
}

/** A refused request, with the API's own words. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: ApiErrorEntry[],
  ) {
    super(errors.map((e) => e.error_message).join('; ') || `HTTP ${status}`);
    this.name = 'ApiError';
  }
}

/** An object as the API renders it. */
export type Obj = Record<string, unknown> & { uuid: string };

export interface ListPage<T = Obj> {
  meta: { limit: number; offset: number; total_count: number };
  objects: T[];
}

/** Called when a request finds the session gone (401): the app shows the login page. */
let onSignedOut: () => void = () => {};
export function whenSignedOut(listener: () => void): void {
  onSignedOut = listener;
}

function cookie(name: string): string | undefined {
  for (const part of document.cookie.split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

export function headers(json: boolean): Record<string, string> {
  const out: Record<string, string> = {
    accept: 'application/json',
    'x-requested-with': 'XMLHttpRequest',
  };
  const csrf = cookie('csrftoken');
  if (csrf) out['x-csrftoken'] = csrf;
  if (json) out['content-type'] = 'application/json';
  return out;
}

/** Turns a refused answer's body into an ApiError (the API's array, or a plain status). */
export function errorOf(status: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as unknown;
    if (Array.isArray(body) && body.every((e) => typeof e?.error_message === 'string')) {
      return new ApiError(status, body as ApiErrorEntry[]);
    }
  } catch {
    // Not JSON: a proxy's page, say.
  }
  return new ApiError(status, [
    { error_point: null, error_type: 'http', error_message: `HTTP ${status}` },
  ]);
}

/** A request below `/api/2.0` (or, starting with `/console/`, the console's own routes). */
export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const url = path.startsWith('/console/') ? path : API + path;
  const response = await fetch(url, {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const text = await response.text();
  if (!response.ok) {
    if (response.status === 401 && !path.startsWith('/accounts/')) onSignedOut();
    throw errorOf(response.status, text);
  }
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

export const get = <T>(path: string) => request<T>('GET', path);
export const post = <T>(path: string, body: unknown = {}) => request<T>('POST', path, body);
export const put = <T>(path: string, body: unknown) => request<T>('PUT', path, body);
export const del = (path: string) => request<void>('DELETE', path);

/** Every object of a collection (CloudSigma's `limit=0`). */
export async function listAll<T = Obj>(path: string): Promise<T[]> {
  const sep = path.includes('?') ? '&' : '?';
  return (await get<ListPage<T>>(`${path}${sep}limit=0`)).objects;
}

export async function login(username: string, password: string): Promise<void> {
  await post('/accounts/action/?do=login', { username, password });
}

export async function logout(): Promise<void> {
  await post('/accounts/action/?do=logout', {});
}

/** Whether the browser holds a live session (a 401 says no, quietly). */
export async function signedIn(): Promise<{ email: string } | null> {
  try {
    return await get<{ email: string }>('/profile/');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

/** `{uuid}` or a link object or a uri: the uuid. */
export function uuidOf(ref: unknown): string | null {
  if (typeof ref === 'string') return ref.split('/').filter(Boolean).pop() ?? null;
  if (ref && typeof ref === 'object' && 'uuid' in ref) return String(ref.uuid);
  return null;
}
