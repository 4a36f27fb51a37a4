import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requestState } from '../context.js';
import { ERRORS, GatewayError, graphqlErrorBody, restErrorBody, type ErrorCode } from '../errors.js';
import { isGraphqlTarget } from './raw-error.js';

/**
 * Answers an error in the shape of the path it happened on: `{"errors": [...]}` with the code in
 * `extensions.code` on the GraphQL path, `{error, message, request_id}` everywhere else.
 */
export function sendError(graphqlPath: string, request: FastifyRequest, reply: FastifyReply, code: ErrorCode, message?: string) {
  const status = ERRORS[code].status;
  // The GraphQL path's errors are GraphQL responses whichever route (or none) refused the request.
  if (isGraphqlTarget(request.url, graphqlPath)) {
    if (code === 'METHOD_NOT_ALLOWED') reply.header('allow', 'GET, POST');
    requestState(request).errorCodes = [code];
    return reply.code(status).type('application/json; charset=utf-8').send(graphqlErrorBody(code, message));
  }
  return reply.code(status).send(restErrorBody(code, request.id, message));
}

/** Every error a handler or hook throws, and every unknown route, answered with a registered code. */
export function installErrorAnswers(app: FastifyInstance, graphqlPath: string): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const code = errorCodeOf(error);
    // OVERLOADED is load shedding, counted in gateway_http_rejections_total: one error line per refused
    // request would make the log the next thing to overload. SHUTTING_DOWN is the drain, not a failure.
    if (ERRORS[code].status >= 500 && code !== 'OVERLOADED' && code !== 'SHUTTING_DOWN')
      request.log.error({ err: error }, 'unhandled error');
    const message = error instanceof GatewayError ? error.message : ERRORS[code].message;
    if (error instanceof GatewayError) reply.headers(error.headers);
    sendError(graphqlPath, request, reply, code, message);
  });
  // The GraphQL path exists for GET and POST: another method there is 405, not 404.
  app.setNotFoundHandler((request, reply) =>
    sendError(graphqlPath, request, reply, isGraphqlTarget(request.url, graphqlPath) ? 'METHOD_NOT_ALLOWED' : 'NOT_FOUND'),
  );
}

function errorCodeOf(error: FastifyError): ErrorCode {
  if (error instanceof GatewayError) return error.code;
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'UNSUPPORTED_MEDIA_TYPE';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'PAYLOAD_TOO_LARGE';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'MALFORMED_JSON';
  }
  if (error instanceof SyntaxError && error.statusCode === 400) return 'MALFORMED_JSON';
  const status = error.statusCode ?? 500;
  if (status === 413) return 'PAYLOAD_TOO_LARGE';
  if (status === 415) return 'UNSUPPORTED_MEDIA_TYPE';
  if (status === 405) return 'METHOD_NOT_ALLOWED';
  if (status >= 400 && status < 500) return 'BAD_REQUEST';
  return 'INTERNAL_SERVER_ERROR';
}
