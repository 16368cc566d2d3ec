/**
 * One log line per request, on completion: request id, account, method, path, status, time, and
 * the body fields ignored as unknown. At level trace a second line carries the request's headers
 * and body and the answer's body, with secrets redacted (redact.ts).
 * Requests log through the server's logger itself (no child logger per request: it costs more
 * than the line), so lines carry the request id explicitly.
 */
import {
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import pino from 'pino';
import { redactBody, redactHeaders, redactPayload } from './redact.js';

/** Hears each API request when it is done: method, route pattern, status, seconds. */
export type RequestObserver = (
  method: string,
  route: string,
  status: number,
  seconds: number,
) => void;

export class RequestLog extends LogController {
  /**
   * `observe` (the metrics) hears API requests here rather than in a hook of their own: the log
   * controller already runs once per request, a hook would cost another dispatch.
   */
  private readonly writeInfo: ((fields: string, msg: string) => void) | undefined;

  constructor(
    private readonly apiPrefix: string,
    logger: FastifyBaseLogger,
    private readonly observe?: RequestObserver,
  ) {
    super({ requestIdLogLabel: 'request_id' });
    this.writeInfo = pinoInfoWriter(logger);
  }

  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    this.completed(
      {
        id: request.id,
        account: request.principal?.email,
        method: request.method,
        url: request.url,
        route: request.routeOptions.url,
        status: reply.statusCode,
        ms: reply.elapsedTime,
        ignoredFields: request.ignoredFields,
        ignoredParameters: request.ignoredParameters,
      },
      reply.log,
      error,
    );
    if (reply.log.level === 'trace') {
      reply.log.trace(
        {
          request_id: request.id,
          request_headers: redactHeaders(request.headers),
          request_body: redactBody(request.body),
          response_headers: redactHeaders(reply.getHeaders()),
          response_body: redactPayload(request.tracePayload),
        },
        'request trace',
      );
    }
  }

  /** Measures a request and writes its line (Fastify's requests, and the lane's). */
  completed(done: CompletedRequest, log: FastifyBaseLogger, error?: Error | null): void {
    if (this.observe && done.route?.startsWith(this.apiPrefix)) {
      this.observe(
        done.method,
        done.route.slice(this.apiPrefix.length),
        done.status,
        done.ms / 1000,
      );
    }
    if (!error && this.writeInfo && infoEnabled(log)) {
      this.writeInfo(requestFields(done), 'request');
      return;
    }
    const line: Record<string, unknown> = {
      request_id: done.id,
      account: done.account,
      method: done.method,
      path: done.url,
      status: done.status,
      ms: Math.round(done.ms * 100) / 100,
    };
    if (done.ignoredFields) line.ignored_fields = done.ignoredFields;
    if (done.ignoredParameters) line.ignored_parameters = done.ignoredParameters;
    if (error) log.error({ ...line, err: error }, 'request failed');
    else log.info(line, 'request');
  }
}

/** A request done, as its log line and its measurement tell it. */
export interface CompletedRequest {
  id: string;
  account: string | undefined;
  method: string;
  /** Path and query as sent. */
  url: string;
  /** The route's pattern, prefix included; undefined when no route matched. */
  route: string | undefined;
  status: number;
  ms: number;
  ignoredFields?: readonly string[] | undefined;
  ignoredParameters?: readonly string[] | undefined;
}

/** Whether the request's logger (Fastify's child of ours, whose level can change) logs info. */
function infoEnabled(log: FastifyBaseLogger): boolean {
  return (
    (log as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.('info') !== false
  );
}

/** The request line's fields as JSON members (`,"request_id":...`), in pino's order. */
function requestFields(done: CompletedRequest): string {
  let fields = `,"request_id":${JSON.stringify(done.id)}`;
  if (done.account !== undefined) fields += `,"account":${JSON.stringify(done.account)}`;
  fields += `,"method":${JSON.stringify(done.method)},"path":${JSON.stringify(done.url)}`;
  fields += `,"status":${done.status},"ms":${Math.round(done.ms * 100) / 100}`;
  if (done.ignoredFields) fields += `,"ignored_fields":${JSON.stringify(done.ignoredFields)}`;
  if (done.ignoredParameters)
    fields += `,"ignored_parameters":${JSON.stringify(done.ignoredParameters)}`;
  return fields;
}

interface PinoInternals {
  [key: symbol]: unknown;
}

/**
 * Writes an info line in pino's own format through the logger's destination, from the logger's
 * own pieces (level prefix, time, bindings, message key, line end): pino's generic serialiser
 * costs about 4 µs a line, a tenth of a small GET, and the request line is written on every
 * request. Undefined (use the logger) when info is off or the logger is configured in a way this
 * does not imitate (mixins, formatters, hooks, redaction, serializers, nested keys, multistream).
 */
export function pinoInfoWriter(
  logger: FastifyBaseLogger,
): ((fields: string, msg: string) => void) | undefined {
  const internals = logger as unknown as PinoInternals;
  const enabled = (logger as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled;
  if (enabled?.call(logger, 'info') !== true) return undefined;
  const s = pino.symbols;
  const stream = internals[s.streamSym] as
    | { write?: (line: string) => unknown; [key: symbol]: unknown }
    | undefined;
  const levelPrefix = (internals[s.lsCacheSym] as Record<number, string> | undefined)?.[30];
  const time = internals[s.timeSym];
  const end = internals[s.endSym];
  const formatters = internals[s.formattersSym] as { log?: unknown } | undefined;
  const hooks = internals[s.hooksSym] as { logMethod?: unknown; streamWrite?: unknown } | undefined;
  const serializers = Object.keys((internals[s.serializersSym] as object | undefined) ?? {});
  const stringifiers = Object.keys((internals[s.stringifiersSym] as object | undefined) ?? {});
  if (
    typeof stream?.write !== 'function' ||
    stream[s.needsMetadataGsym] === true ||
    typeof levelPrefix !== 'string' ||
    typeof time !== 'function' ||
    typeof end !== 'string' ||
    internals[s.mixinSym] ||
    formatters?.log !== undefined ||
    hooks?.logMethod ||
    hooks?.streamWrite ||
    internals[s.nestedKeySym] ||
    serializers.some((key) => key !== 'err') ||
    stringifiers.length > 0
  ) {
    return undefined;
  }
  const messageKey = JSON.stringify(internals[s.messageKeySym] ?? 'msg');
  const write = stream.write.bind(stream);
  const now = (time as (this: unknown) => string).bind(logger);
  return (fields, msg) => {
    const bindings = (internals[s.chindingsSym] as string | undefined) ?? '';
    write(`${levelPrefix}${now()}${bindings}${fields},${messageKey}:${JSON.stringify(msg)}${end}`);
  };
}
