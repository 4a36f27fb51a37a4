import { describe, expect, it } from 'vitest';
import { UpstreamConnections } from '../gateway/src/subscriptions/upstream-connections.js';

// Lazy clients: none of these connects, since nothing subscribes on them.
const URL = 'ws://127.0.0.1:1/graphql';
const options = () => ({ retryAttempts: 0, retryBaseMs: 10, retryMaxMs: 10, connectTimeoutMs: 1_000 });

describe('upstream connections for subscriptions', () => {
  it('lends one connection per URL and headers (in any order), and drops it with its last user', () => {
    const connections = new UpstreamConnections(options);
    const alice = connections.lease(URL, { 'x-user-id': 'alice', 'x-user-scopes': 'a b' });
    const aliceAgain = connections.lease(URL, { 'x-user-scopes': 'a b', 'x-user-id': 'alice' });
    const bob = connections.lease(URL, { 'x-user-id': 'bob', 'x-user-scopes': 'a b' });
    const elsewhere = connections.lease('ws://127.0.0.1:2/graphql', { 'x-user-id': 'alice', 'x-user-scopes': 'a b' });
    expect(aliceAgain.client).toBe(alice.client);
    expect(bob.client).not.toBe(alice.client);
    expect(elsewhere.client).not.toBe(alice.client);
    expect(connections.size).toBe(3);

    alice.release();
    alice.release();
    expect(connections.size).toBe(3);
    aliceAgain.release();
    expect(connections.size).toBe(2);
    bob.release();
    elsewhere.release();
    expect(connections.size).toBe(0);
  });

  it('never lends a retired (failed) connection again, while its last users still hold it', () => {
    const connections = new UpstreamConnections(options);
    const headers = { 'x-user-id': 'carol' };
    const first = connections.lease(URL, headers);
    const second = connections.lease(URL, headers);
    first.retire();
    const fresh = connections.lease(URL, headers);
    expect(fresh.client).not.toBe(first.client);
    expect(connections.size).toBe(1);
    // The retired connection's users release it without touching the fresh one.
    first.release();
    second.release();
    expect(connections.size).toBe(1);
    const later = connections.lease(URL, headers);
    expect(later.client).toBe(fresh.client);
    later.release();
    fresh.release();
    expect(connections.size).toBe(0);
  });
});
