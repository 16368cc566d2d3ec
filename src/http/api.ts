/**
 * What a resource's routes see of HTTP: a context in, a result out. Resources never touch
 * Fastify; `http/server.ts` adapts these to it.
 */
import type { Readable } from 'node:stream';
import type { ApiError } from '../errors.js';
import type { Fields, ResourceDef } from '../model/fields.js';
import type { Rendered } from '../store/types.js';
import type { Principal } from './auth.js';
import type { Query } from './query.js';

/** A request as routes see it, before anyone is authenticated. */
export interface RequestInfo {
  params: Record<string, string>;
  query: Query;
  /** Parsed JSON body; undefined when the request had none. */
  body: unknown;
  /** `scheme://host` the client used (or the configured public URL), for `Location`. */
  origin: string;
  method: string;
  path: string;
  /** Path and query as sent. */
  url: string;
  /** As received (lower-case names; a repeated header may be an array). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The request body, unread: only on routes that stream their body (`streamsBody`). */
  bodyStream?: Readable;
  /** The client's address (the login throttle counts attempts per address). */
  address?: string | undefined;
  /**
   * Aborted when the client goes away before its answer is sent (`http/disconnect.ts`): work
   * not yet committed stops. Made on first call.
   */
  clientSignal?: () => AbortSignal;
}

/** A request whose account is known. */
export interface ApiContext extends RequestInfo {
  principal: Principal;
  /**
   * Tells the HTTP layer which fields of the body no declaration knows (`nics.0.colour`): with
   * `--strict` that is a 400 naming them; otherwise they are ignored and the request's log line
   * lists them.
   */
  noteUnknownFields(points: readonly string[]): void;
  /** Query parameters nothing read (a list's unknown filters), for the request's log line. */
  noteIgnoredParameters(names: readonly string[]): void;
}

export type ResultHeaders = Record<string, string | string[]>;

export type ApiResult =
  /**
   * A page of pre-rendered objects, wrapped in the list envelope; or, with `joined`, their JSON
   * already comma-separated (`items` is then empty).
   */
  | {
      type: 'list';
      total: number;
      limit: number;
      offset: number;
      items: Rendered[];
      joined?: Buffer;
    }
  /**
   * One pre-rendered object, or objects in `{"objects": [...]}`; `uuids` names the objects it
   * carries when the handler knows them (the audit log reads them instead of parsing `json`).
   */
  | {
      type: 'object';
      status?: number;
      json: Rendered;
      headers?: ResultHeaders;
      uuids?: readonly string[];
    }
  /** Any value, rendered as canonical JSON. */
  | { type: 'value'; status?: number; body: unknown; headers?: ResultHeaders }
  /**
   * Bytes that are not JSON (an uploaded drive's uuid as text, a drive image), sent as they are;
   * a stream is piped (Fastify's path only: routes that answer streams mark `streamsBody`).
   */
  | {
      type: 'raw';
      status?: number;
      contentType: string;
      body: string | Buffer | Readable;
      /** Content-Length of a stream, when known. */
      length?: number;
      headers?: ResultHeaders;
      uuids?: readonly string[];
    }
  | { type: 'empty'; status?: number };

export type ApiHandler = (ctx: ApiContext) => Promise<ApiResult>;
/** A handler that runs without authentication and authenticates itself where it needs to. */
export type PublicHandler = (ctx: RequestInfo) => Promise<ApiResult>;

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * What a route serves, for the OpenAPI document: objects of a declared resource, as a list
 * (GET lists, POST creates, PUT and DELETE work in bulk) or as one object (GET, PUT, DELETE).
 */
export interface RouteResource {
  def: ResourceDef;
  as: 'list' | 'object';
  /** Keys a list (and a create) answers beside `meta` and `objects` (`/subscriptions/`' price). */
  envelope?: Fields;
}

/**
 * What one action of an action route (`?do=NAME`) answers, for the OpenAPI document: CloudSigma's
 * acknowledgement `{action, result, uuid}` (with `extra` string keys such as `vnc_url`), one
 * object of a resource, that object in `{"objects": [...]}`, or a small object of declared fields.
 * The status is 202 unless `status` says otherwise.
 */
export type ActionAnswer = { status?: number } & (
  | { as: 'ack'; extra?: readonly string[] }
  | { as: 'object' | 'objects'; def: ResourceDef }
  | { as: 'fields'; fields: Fields }
);

/** One URL of the API (below `/api/2.0`), with a handler per method it allows. */
export type RouteSpec =
  | {
      path: string;
      handlers: Partial<Record<Method, ApiHandler>>;
      public?: false;
      resource?: RouteResource;
      /** On an action route: what each action answers (OpenAPI). */
      actions?: Readonly<Record<string, ActionAnswer>>;
      /**
       * The handler reads the body itself as a stream (`RequestInfo.bodyStream`) and bounds it
       * itself (image uploads and downloads): no JSON parsing, no `--body-limit`, never the lane.
       * Fastify's route config says the same (`config.streamsBody`) to hooks that look.
       */
      streamsBody?: true;
    }
  | {
      path: string;
      handlers: Partial<Record<Method, PublicHandler>>;
      public: true;
      resource?: RouteResource;
      actions?: Readonly<Record<string, ActionAnswer>>;
    };

/**
 * How an authenticated request's handler ended, told to an outcome listener (the audit log) that
 * the composition root provides; the HTTP layer knows nothing of what it records. Reads (GET,
 * HEAD) are not outcomes: they act on nothing, and they are the hot path.
 */
export interface ApiOutcome {
  ctx: ApiContext;
  /** The route's path pattern below `/api/2.0`, e.g. `/servers/:uuid/action/`. */
  route: string;
  /** What the handler answered; undefined when it failed. */
  result?: ApiResult;
  /** Why it failed (anything that is not an `ApiError` is a 500 `backend` one). */
  error?: ApiError;
}

/** Returns a promise only when it has something to wait for. */
export type OutcomeListener = (outcome: ApiOutcome) => Promise<void> | undefined;
