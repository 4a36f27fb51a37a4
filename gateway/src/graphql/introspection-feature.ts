import type { Feature } from '../feature.js';
import { productionSettings, type GraphqlConfig } from './config.js';
import { useIntrospectionPolicy } from './introspection-plugin.js';

/**
 * Who may introspect the schema (`graphql.introspection`: everyone, no one, or some tiers or scopes;
 * off by default in production mode). Its plugin is the first to see a resolved operation, before
 * authorization filters it.
 */
export const introspectionFeature: Feature<{ graphql: GraphqlConfig }, unknown> = {
  name: 'introspection',
  setup({ config }) {
    return { apolloPlugins: [useIntrospectionPolicy({ policy: productionSettings(config.graphql).introspection })] };
  },
};
