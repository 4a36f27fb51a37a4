import type { FastifyInstance, FastifyReply } from 'fastify';
import type { User, UserStore } from './data.js';

/**
 * Legacy REST routes, kept for clients that predate GraphQL (the gateway's REST passthrough
 * mounts them). Error bodies are `{error, message}`.
 */

export const DEFAULT_LIST_LIMIT = 20;
export const MAX_LIST_LIMIT = 100;

interface ListQuery {
  limit?: string;
  offset?: string;
}

function toRestUser(user: User): User {
  return { id: user.id, name: user.name, email: user.email, tier: user.tier };
}

/** A non-negative integer written in plain decimal digits, else undefined. */
function parseNonNegativeInteger(value: string): number | undefined {
  return /^(0|[1-9]\d{0,8})$/.test(value) ? Number(value) : undefined;
}

function badRequest(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(400).send({ error: 'BAD_REQUEST', message });
}

export function registerLegacyUserRoutes(app: FastifyInstance, store: UserStore): void {
  app.get<{ Params: { id: string } }>('/api/v1/users/:id', async (request, reply) => {
    const [user] = await store.findUsersByIds([request.params.id]);
    if (!user) {
      return reply.code(404).send({ error: 'NOT_FOUND', message: `User "${request.params.id}" does not exist.` });
    }
    return toRestUser(user);
  });

  app.get<{ Querystring: ListQuery }>('/api/v1/users', async (request, reply) => {
    const limit = request.query.limit === undefined ? DEFAULT_LIST_LIMIT : parseNonNegativeInteger(request.query.limit);
    if (limit === undefined || limit < 1 || limit > MAX_LIST_LIMIT) {
      return badRequest(reply, `"limit" must be an integer between 1 and ${MAX_LIST_LIMIT}.`);
    }
    const offset = request.query.offset === undefined ? 0 : parseNonNegativeInteger(request.query.offset);
    if (offset === undefined) {
      return badRequest(reply, '"offset" must be a non-negative integer.');
    }
    const users = store.listUsers();
    return { users: users.slice(offset, offset + limit).map(toRestUser), total: users.length, limit, offset };
  });
}
