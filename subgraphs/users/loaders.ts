import DataLoader from 'dataloader';
import type { FastifyRequest } from 'fastify';
import type { User, UserStore } from './data.js';

export interface UsersLoaders {
  userById: DataLoader<string, User | null>;
}

export interface UsersContext {
  store: UserStore;
  loaders: UsersLoaders;
  /** From the `x-user-id` header; undefined when absent. */
  viewerId: string | undefined;
}

/** Fresh loaders per request, so one request's cache never serves another. */
export function createUsersLoaders(store: UserStore): UsersLoaders {
  return { userById: new DataLoader((ids) => store.findUsersByIds(ids)) };
}

export function createUsersContext(store: UserStore, request: FastifyRequest): UsersContext {
  const header = request.headers['x-user-id'];
  const viewerId = Array.isArray(header) ? header[0] : header;
  return { store, loaders: createUsersLoaders(store), viewerId: viewerId || undefined };
}
