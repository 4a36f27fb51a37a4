import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEV_ISSUER } from '../gateway/src/auth/dev-secret.js';
import type { TrustedDocument } from '../gateway/src/persisted/manifest.js';
import { manifestOf } from '../gateway/src/persisted/write-manifest.js';
import { devBearer } from './helpers/auth.js';
import { useDemoStack } from './helpers/subgraphs.js';

/** Trusted documents apply to subscription documents as to queries: only listed ones subscribe. */
const manifest = manifestOf([{ name: 'watch.graphql', text: 'subscription Watch { orderCreated { id status } }' }]);
const [WATCH] = manifest.operations as [TrustedDocument];
const manifestPath = join(mkdtempSync(join(tmpdir(), 'gw-subs-trusted-')), 'manifest.json');
writeFileSync(manifestPath, JSON.stringify(manifest));

describe('subscriptions under a trusted-documents allow-list', () => {
  const stack = useDemoStack({
    auth: { jwt: { issuers: [DEV_ISSUER] } },
    graphql: { trustedDocuments: { mode: 'allow-list', manifest: manifestPath } },
    // A listed subscription's stream opens with a keep-alive comment soon after it starts.
    subscriptions: { keepAliveMs: 200 },
  });

  /** Opens an SSE subscription; returns its status, content type and the first bytes it sends (then leaves). */
  const sse = async (body: Record<string, unknown>) => {
    const controller = new AbortController();
    const response = await fetch(stack.gw.graphqlUrl, {
      method: 'POST',
      headers: { ...(await devBearer('user-1')), 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    const reader = response.body?.getReader();
    const first = reader ? new TextDecoder().decode((await reader.read()).value) : '';
    controller.abort();
    return { status: response.status, type: response.headers.get('content-type') ?? '', first };
  };

  it('refuses a subscription document that is not in the manifest', async () => {
    const refused = await sse({ query: 'subscription { orderCreated { id } }' });
    expect(refused.first).toContain('PERSISTED_QUERY_NOT_IN_LIST');
  });

  it('subscribes with a listed document, by its id', async () => {
    const listed = await sse({ documentId: `sha256:${WATCH.id}` });
    expect(listed.status).toBe(200);
    expect(listed.type).toContain('text/event-stream');
    expect(listed.first).not.toContain('errors');
  });
});
