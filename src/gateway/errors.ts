import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import { KeelError, toKeelError } from '../errors.ts';

/** The OpenAI error body, the one error shape every gateway response uses. */
export interface ErrorBody {
  error: { message: string; type: string; code: string; param: string | null };
}

/**
 * Names the offending field the way OpenAI does (`messages[0].content`), so a client sees which
 * part of its request was wrong.
 */
export function zodParam(path: readonly PropertyKey[]): string | null {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out || null;
}

export function fromZodError(e: ZodError): KeelError {
  const issue = e.issues[0];
  if (!issue) return new KeelError('invalid_request', 'Invalid request body');
  const param = zodParam(issue.path);
  const message = param ? `Invalid value for '${param}': ${issue.message}` : issue.message;
  return new KeelError('invalid_request', message, { param });
}

/** Fastify's own errors (body parsing, limits, bad URLs) mapped onto Keel's taxonomy. */
function fromFastifyError(e: FastifyError): KeelError {
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new KeelError('payload_too_large', 'Request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new KeelError('unsupported_media_type', 'Unsupported Content-Type: send application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new KeelError('invalid_request', 'Request body is empty; expected a JSON object');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new KeelError('invalid_request', 'Content-Length does not match the body');
    case 'FST_ERR_BAD_URL':
      return new KeelError('invalid_request', 'Malformed URL');
  }
  // The JSON parser throws a SyntaxError tagged with statusCode 400.
  if (e instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new KeelError('invalid_request', `Malformed JSON body: ${e.message}`);
  }
  const status = e.statusCode ?? 500;
  if (status === 404) return new KeelError('not_found', e.message);
  if (status === 413) return new KeelError('payload_too_large', e.message);
  if (status === 415) return new KeelError('unsupported_media_type', e.message);
  if (status >= 400 && status < 500) return new KeelError('invalid_request', e.message, { status });
  return new KeelError('internal_error', 'Internal error', { cause: e });
}

export function toHttpError(e: unknown): KeelError {
  if (e instanceof KeelError) return e;
  if (e instanceof ZodError) return fromZodError(e);
  if (e instanceof Error && ('statusCode' in e || 'code' in e)) return fromFastifyError(e as FastifyError);
  return toKeelError(e);
}

/** Retry-After in whole seconds, rounded up, as HTTP wants it. */
function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}

export function sendError(reply: FastifyReply, e: unknown): void {
  const err = toHttpError(e);
  if (err.status >= 500) reply.log.error({ err: err.cause ?? err, code: err.code }, err.message);
  if (err.retryAfterMs !== undefined) reply.header('retry-after', retryAfterSeconds(err.retryAfterMs));
  reply.code(err.status).type('application/json').send(err.toJSON());
}

export function errorHandler(e: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  sendError(reply, e);
}

export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): void {
  sendError(reply, new KeelError('not_found', `Unknown route: ${req.method} ${req.url.split('?')[0]}`));
}

/**
 * Requests Node's HTTP parser rejects never reach Fastify's routing; they still get the OpenAI
 * error shape (408 timeout, 431 oversized headers, else 400), written straight to the socket.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, text, e] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', new KeelError('invalid_request', 'Request timed out', { status: 408 })]
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [
            431,
            'Request Header Fields Too Large',
            new KeelError('invalid_request', 'Request headers are too large', { status: 431 }),
          ]
        : [400, 'Bad Request', new KeelError('invalid_request', 'Malformed HTTP request')];
  const body = JSON.stringify(e.toJSON());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${text}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
