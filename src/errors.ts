/**
 * The one error catalogue, used by every layer (store, model, resources, http, control). Every
 * CloudSigma error the API can answer is a named entry of `errors` (its type, status and message
 * template; docs/errors.md lists them); code throws the `ApiError`s they build, and `http/`
 * alone turns them into `[{error_point, error_type, error_message}]` (`http/errors.ts`).
 */

export type ErrorType =
  | 'validation'
  | 'notexist'
  | 'backend'
  | 'permission'
  | 'database'
  | 'concurrency'
  | 'billing'
  | 'payment';

const STATUS_BY_TYPE: Record<ErrorType, number> = {
  validation: 400,
  notexist: 404,
  permission: 403,
  billing: 402,
  payment: 402,
  concurrency: 503,
  backend: 500,
  database: 500,
};

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly type: ErrorType,
    message: string,
    readonly point: string | null = null,
    status?: number,
    readonly headers: Record<string, string | string[]> = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status ?? STATUS_BY_TYPE[type];
  }
}

/** Several validation errors answered at once (CloudSigma's body is an array for this reason). */
export class ApiErrors extends ApiError {
  constructor(readonly errors: ApiError[]) {
    const first = errors[0]!;
    super(first.type, first.message, first.point, first.status);
  }
}

/** Thrown by stores when an optimistic version check fails; the store retries, then answers 503. */
export class ConflictError extends Error {
  constructor(message = 'concurrent update') {
    super(message);
    this.name = 'ConflictError';
  }
}

export const errors = {
  // 400 validation
  invalid: (point: string | null, message: string) => new ApiError('validation', message, point),
  required: (point: string) => new ApiError('validation', 'This field is required', point),
  badJson: (detail: string) =>
    new ApiError('validation', `Request body is not valid JSON: ${detail}`, null),
  badUtf8: () => new ApiError('validation', 'Request body is not valid UTF-8', null),
  nullCharacter: (point: string | null) =>
    new ApiError('validation', 'The NUL character (\\0) is not allowed', point),
  tooDeep: () => new ApiError('validation', 'Request body is nested too deeply', null),
  bodyTooLarge: (limit: number) =>
    new ApiError('validation', `Request body is larger than ${limit} bytes`, null, 413),
  unknownAction: (action: string | undefined) =>
    new ApiError(
      'validation',
      action === undefined ? 'Parameter "do" is required' : `Unknown action "${action}"`,
      'do',
    ),
  /** `--strict`: one error per field no declaration knows. */
  unknownFields: (points: readonly string[]): ApiError => {
    const each = points.map(
      (point) => new ApiError('validation', `Unknown field "${point}" (--strict)`, point),
    );
    return each.length === 1 ? each[0]! : new ApiErrors(each);
  },
  notYetSupported: (point: string, what: string) =>
    new ApiError('validation', `${what} are not supported by this sigmalite version`, point),

  // 404 notexist
  notExist: (uuid: string) =>
    new ApiError('notexist', `Object with uuid ${uuid} does not exist`, null),
  /** A CloudSigma endpoint sigmalite does not serve (docs/support.md lists them). */
  notImplemented: (path: string) =>
    new ApiError('notexist', `Not implemented by sigmalite: ${path} (see docs/support.md)`, null),
  noSuchPath: (path: string) =>
    new ApiError('notexist', `The requested URL ${path} was not found on this server`, null),

  // 403 permission
  permission: (message: string, point: string | null = null, status?: number) =>
    new ApiError('permission', message, point, status),

  // 402 billing
  notEnoughFunds: (message: string) => new ApiError('billing', message, null),

  // protocol
  methodNotAllowed: (method: string, path: string, allowed: string[]) =>
    new ApiError('validation', `Method ${method} is not allowed on ${path}`, null, 405, {
      allow: allowed.join(','),
    }),
  notAcceptable: (what: string) =>
    new ApiError(
      'validation',
      `Cannot produce ${what}: this API answers application/json only`,
      null,
      406,
    ),
  upgradeRequired: (path: string) =>
    new ApiError(
      'validation',
      `${path} speaks websocket only: connect with Upgrade: websocket`,
      null,
      426,
      { upgrade: 'websocket' },
    ),
  unauthorized: (challenges: string[]) =>
    new ApiError(
      'permission',
      'Authentication credentials were not provided or are invalid',
      null,
      401,
      challenges.length > 0 ? { 'www-authenticate': challenges } : {},
    ),

  throttled: (seconds: number) =>
    new ApiError(
      'permission',
      `Too many failed logins for this account; try again in ${seconds} seconds`,
      null,
      429,
      { 'retry-after': String(seconds) },
    ),

  // 5xx
  concurrency: () =>
    new ApiError('concurrency', 'The object was changed by another request; try again', null),
  backend: () => new ApiError('backend', 'unknown error', null),
  /** CloudSigma answers 503 when a location is out of capacity. */
  outOfCapacity: (message: string) => new ApiError('backend', message, null, 503),
};
