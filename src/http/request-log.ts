/**
 * One log line per request, on completion: request id, account, method, path, status, time, and
 * the body fields ignored as unknown. At level trace a second line carries the request's headers
 * and body and the answer's body, with secrets redacted (redact.ts).
 * Requests log through the server's logger itself (no child logger per request: it costs more
 * than the line), so lines carry the request id explicitly.
 */
import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';
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
  constructor(
    private readonly apiPrefix: string,
    private readonly observe?: RequestObserver,
  ) {
    super({ requestIdLogLabel: 'request_id' });
  }

  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
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
    const route = request.routeOptions.url;
    if (this.observe && route?.startsWith(this.apiPrefix)) {
      this.observe(
        request.method,
        route.slice(this.apiPrefix.length),
        reply.statusCode,
        reply.elapsedTime / 1000,
      );
    }
    if (error) reply.log.error({ ...line, err: error }, 'request failed');
    else reply.log.info(line, 'request');
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
