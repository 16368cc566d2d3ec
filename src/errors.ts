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
  expectedObject: (point: string | null) =>
    new ApiError('validation', 'Expected a JSON object', point),
  expectedString: (point: string | null) => new ApiError('validation', 'Expected a string', point),
  expectedBoolean: (point: string | null) =>
    new ApiError('validation', 'Expected true or false', point),
  expectedList: (point: string | null) => new ApiError('validation', 'Expected a list', point),
  /** A reference (a uuid in a body) to an object that does not exist or is not the caller's. */
  missingReference: (point: string | null, uuid: string) =>
    new ApiError('validation', `Object with uuid ${uuid} does not exist`, point),
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
  /** More keypairs to generate in one request than `--max-generated-keys` allows. */
  tooManyGeneratedKeys: (limit: number) =>
    new ApiError(
      'validation',
      `At most ${limit} keypairs can be generated in one request (--max-generated-keys); send public_key for the others, or send them in several requests`,
      'objects',
    ),
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
  /** Refused, for a reason the caller words (CloudSigma's texts, limits, conflicts). */
  permission: (message: string, point: string | null = null, status?: number) =>
    new ApiError('permission', message, point, status),
  /** A server power action or delete in the wrong state (CloudSigma's text and state names). */
  wrongGuestState: (action: string, state: string, expected: string) =>
    new ApiError(
      'permission',
      `Cannot ${action} guest in state "${state}". Guest should be in state ${expected}`,
      null,
    ),
  /** An action on a drive or snapshot in the wrong state. */
  wrongState: (action: string, what: string, uuid: string, state: string, point?: string) =>
    new ApiError(
      'permission',
      `Cannot ${action} ${what} ${uuid} in state "${state}"`,
      point ?? null,
    ),
  /** A test-control fault asked of a server in the wrong state. */
  wrongControlState: (action: string, uuid: string, state: string, expected: string) =>
    new ApiError(
      'permission',
      `Cannot ${action} server ${uuid} in state "${state}". It should be in state "${expected}"`,
      null,
    ),
  /** An object shared with the caller, but without the permission the request needs. */
  notGranted: (what: string, uuid: string, permission: string, point?: string) =>
    new ApiError(
      'permission',
      `The owner of ${what} ${uuid} has not granted you the ${permission} permission`,
      point ?? null,
    ),
  /** A server may use another account's drive, VLAN, IP or policy only if shared with ATTACH. */
  notSharedToAttach: (subject: string, point: string) =>
    new ApiError(
      'permission',
      `${subject} is not shared with the owner of the server with the ATTACH permission`,
      point,
    ),

  /** The account's profile says `api_https_only`, and the request came over plain HTTP. */
  httpsOnly: () =>
    new ApiError(
      'permission',
      'This account accepts API requests over HTTPS only (its profile sets api_https_only): use https://, or turn api_https_only off in /profile/',
      null,
    ),
  /** A browser page of another origin asked for something only the API's own pages may. */
  foreignOrigin: (origin: string, what: string) =>
    new ApiError(
      'permission',
      `Origin ${origin.slice(0, 200)} may not ${what} (allowed: the API's own origin and --allowed-origins)`,
      null,
    ),
  /** An account already owns as many objects of a kind as it may (`--max-objects-per-account`). */
  quotaExceeded: (kind: string, limit: number) =>
    new ApiError(
      'permission',
      `An account may own at most ${limit} ${kind} (--max-objects-per-account); delete some first`,
      null,
    ),

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
  /** 408: a request's headers or body came too slowly (`why` says which limit). */
  requestTimeout: (why: string) => new ApiError('validation', why, null, 408),
  unsupportedMediaType: (type: string | undefined) =>
    new ApiError(
      'validation',
      `Request bodies must be JSON, declared as Content-Type: application/json (got ${type === undefined ? 'none' : JSON.stringify(type.slice(0, 100))})`,
      null,
      415,
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

  /** 499 (nginx's): the client went away before its answer; nobody reads it, the log line does. */
  clientClosed: () =>
    new ApiError('validation', 'The client closed the connection before the answer', null, 499),
  tooManyConnectionsFromAddress: (limit: number) =>
    new ApiError(
      'permission',
      `Too many open connections from this address (limit: ${limit})`,
      null,
      429,
    ),
  /** 429: the account holds as many VNC and console tunnels (or console websockets) as allowed. */
  tooManyTunnels: (what: string, limit: number) =>
    new ApiError(
      'permission',
      `Too many open ${what} for this account (limit: ${limit}); close some first`,
      null,
      429,
    ),
  /** 429: the account holds as many event streams (websockets) as allowed. */
  tooManyEventStreams: (limit: number) =>
    new ApiError(
      'permission',
      `Too many event streams for this account (limit: ${limit})`,
      null,
      429,
    ),
  /** 429: the login attempts allowed per account or client address (`limit`) were spent. */
  throttled: (seconds: number, limit: string, per: 'account' | 'address') =>
    new ApiError(
      'permission',
      `Too many login attempts for this ${per} (limit: ${limit}); try again in ${seconds} seconds`,
      null,
      429,
      { 'retry-after': String(seconds) },
    ),

  // 5xx
  concurrency: () =>
    new ApiError('concurrency', 'The object was changed by another request; try again', null),
  backend: () => new ApiError('backend', 'unknown error', null),
  tooManyConnections: (limit: number) =>
    new ApiError(
      'backend',
      `Too many open connections (limit: ${limit}); try again later`,
      null,
      503,
    ),
  outOfDescriptors: () =>
    new ApiError(
      'backend',
      'The server has too many open files and connections right now; try again later',
      null,
      503,
      { 'retry-after': '5' },
    ),
  /** A tunnel on a host another process serves: that process did not open it in time. */
  tunnelHostSilent: (host: string, seconds: number) =>
    new ApiError(
      'backend',
      `No process serving host ${host} opened the tunnel within ${seconds} seconds; try again later`,
      null,
      503,
      { 'retry-after': '5' },
    ),
  /** The process holds as many tunnels as `--max-tunnels` allows, whoever opened them. */
  tunnelsExhausted: (limit: number) =>
    new ApiError(
      'backend',
      `This server holds too many open tunnels (limit: ${limit}); try again later`,
      null,
      503,
      { 'retry-after': '60' },
    ),
  /** CloudSigma answers 503 when a location is out of capacity. */
  outOfCapacity: (message: string) => new ApiError('backend', message, null, 503),
  /**
   * A start found no host that takes new servers (not drained, not down) with room for this
   * one's CPU and memory (docs/libvirt.md, placement).
   */
  noHostRoom: (mhz: number, memory: number) =>
    new ApiError(
      'backend',
      `No host has room for this server now (${mhz} MHz, ${memory} bytes of memory); try again later or with a smaller server`,
      null,
      503,
    ),
};
