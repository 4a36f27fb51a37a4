import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/index.js';
import { paginate, type ForwardPageArgs } from '../shared/relay.js';
import type { User } from './data.js';
import type { UsersContext } from './loaders.js';

export const usersResolvers: GraphQLResolverMap<UsersContext> = {
  Query: {
    me: (_root: unknown, _args: unknown, context: UsersContext) =>
      context.viewerId === undefined ? null : context.loaders.userById.load(context.viewerId),
    user: (_root: unknown, args: { id: string }, context: UsersContext) => context.loaders.userById.load(args.id),
    users: (_root: unknown, args: ForwardPageArgs, context: UsersContext) => paginate(context.store.listUsers(), args),
  },
  User: {
    __resolveReference: (reference: Pick<User, 'id'>, context: UsersContext) => context.loaders.userById.load(reference.id),
  },
};
