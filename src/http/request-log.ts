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
    const route = request.routeOptions.url;
    if (this.observe && route?.startsWith(this.apiPrefix)) {
      this.observe(
        request.method,
        route.slice(this.apiPrefix.length),
        reply.statusCode,
        reply.elapsedTime / 1000,
      );
    }
    if (!error && this.writeInfo && infoEnabled(reply.log)) {
      this.writeInfo(requestFields(request, reply), 'request');
    } else {
      const line: Record<string, unknown> = {
        request_id: request.id,
        account: request.principal?.email,
        method: request.method,
        path: request.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 100) / 100,
      };
      if (request.ignoredFields) line.ignored_fields = request.ignoredFields;
      if (request.ignoredParameters) line.ignored_parameters = request.ignoredParameters;
      if (error) reply.log.error({ ...line, err: error }, 'request failed');
      else reply.log.info(line, 'request');
    }
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
}

/** Whether the request's logger (Fastify's child of ours, whose level can change) logs info. */
function infoEnabled(log: FastifyBaseLogger): boolean {
  return (
    (log as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.('info') !== false
  );
}

/** The request line's fields as JSON members (`,"request_id":...`), in pino's order. */
function requestFields(request: FastifyRequest, reply: FastifyReply): string {
  const account = request.principal?.email;
  let fields = `,"request_id":${JSON.stringify(request.id)}`;
  if (account !== undefined) fields += `,"account":${JSON.stringify(account)}`;
  fields += `,"method":${JSON.stringify(request.method)},"path":${JSON.stringify(request.url)}`;
  fields += `,"status":${reply.statusCode},"ms":${Math.round(reply.elapsedTime * 100) / 100}`;
  if (request.ignoredFields) fields += `,"ignored_fields":${JSON.stringify(request.ignoredFields)}`;
  if (request.ignoredParameters)
    fields += `,"ignored_parameters":${JSON.stringify(request.ignoredParameters)}`;
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
