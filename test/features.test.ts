import { describe, expect, it } from 'vitest';
import { checkFeatureOrder, ServiceRegistry, setupFeatures, type Feature } from '../gateway/src/feature.js';
import { FEATURES } from '../gateway/src/features.js';

const feature = (name: string, after: string[] = [], setup: Feature['setup'] = () => ({})): Feature => ({ name, after, setup });

describe('the ordered list of features', () => {
  it('lists every feature once, each after the features it names', () => {
    expect(() => checkFeatureOrder(FEATURES)).not.toThrow();
    expect(new Set(FEATURES.map((f) => f.name)).size).toBe(FEATURES.length);
    expect(FEATURES[0]?.name).toBe('observability');
    expect(FEATURES.at(-1)?.name).toBe('probes');
  });

  it('refuses a feature listed before one it must run after, naming both', () => {
    expect(() => checkFeatureOrder([feature('rest', ['auth']), feature('auth')])).toThrow(
      'feature "rest" must run after "auth", but features.ts lists it before',
    );
  });

  it('refuses a feature that must run after one that is not listed, and a feature listed twice', () => {
    expect(() => checkFeatureOrder([feature('rest', ['auth'])])).toThrow(
      'feature "rest" must run after "auth", which is not in features.ts',
    );
    expect(() => checkFeatureOrder([feature('auth'), feature('auth')])).toThrow('feature "auth" is listed twice in features.ts');
  });

  it('does not start when a feature is out of order', () => {
    const misordered = [feature('graphql', ['auth']), feature('auth')] as Feature<unknown, unknown>[];
    expect(() => setupFeatures(misordered, {}, {})).toThrow('feature "graphql" must run after "auth"');
  });
});

describe('services between features', () => {
  it('hands a later feature what an earlier one provided', () => {
    const seen: unknown[] = [];
    const provider: Feature<unknown, unknown> = {
      name: 'auth',
      setup: () => ({ provides: { budget: undefined } }),
    };
    const consumer: Feature<unknown, unknown> = {
      name: 'rest',
      after: ['auth'],
      setup: ({ services }) => {
        seen.push(services.get('budget'));
        return {};
      },
    };
    setupFeatures([provider, consumer], {}, {});
    expect(seen).toEqual([undefined]);
  });

  it('says which service is missing when no earlier feature provides it', () => {
    expect(() => new ServiceRegistry().get('authenticator')).toThrow(
      'no feature before this one provides the service "authenticator": check the order in features.ts',
    );
  });

  it('refuses two features that provide the same service', () => {
    const registry = new ServiceRegistry();
    registry.provide('cost', { budget: undefined });
    expect(() => registry.provide('rest', { budget: undefined })).toThrow('features "cost" and "rest" both provide the service "budget"');
  });

  it('closes the features already set up, in reverse order, when a later one fails to set up', async () => {
    const closed: string[] = [];
    const closing = (name: string): Feature<unknown, unknown> => ({ name, setup: () => ({ close: () => void closed.push(name) }) });
    const failing: Feature<unknown, unknown> = {
      name: 'broken',
      setup: () => {
        throw new Error('static fallback file missing');
      },
    };
    expect(() => setupFeatures([closing('a'), closing('b'), failing], {}, {})).toThrow('static fallback file missing');
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toEqual(['b', 'a']);
  });
});
