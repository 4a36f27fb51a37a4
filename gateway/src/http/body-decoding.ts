import type { IncomingMessage } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { preParsingAsyncHookHandler } from 'fastify';
import { GatewayError } from '../errors.js';

/** The content codings the gateway decompresses (as Apollo Router: gzip, deflate, br), by `Content-Encoding` token. */
const DECODERS: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};
const UTF8 = new Set(['utf-8', 'utf8']);

/**
 * The GraphQL route's `preParsing` hook: turns the bytes of a request body into the UTF-8 JSON text
 * the body parser expects, or refuses them before they are read.
 *
 * - **Charset**: a `charset` parameter other than UTF-8 in `Content-Type` is 415
 *   `UNSUPPORTED_MEDIA_TYPE` (GraphQL over HTTP: JSON bodies are UTF-8).
 * - **Content-Encoding**: `gzip` (or `x-gzip`), `deflate` (zlib) and `br` are decompressed as the body
 *   streams in; `identity` or none is read as it is; anything else, a list of codings included, is
 *   415 `UNSUPPORTED_CONTENT_ENCODING`. Bytes that do not decompress are 400 `BODY_DECODING_FAILED`.
 * - **Limit**: `limit` (`server.bodyLimitBytes`) applies to the decompressed size, and Fastify also
 *   holds the compressed size to it. At the limit the decompressor is destroyed and the rest of the
 *   body is read raw and discarded (413 `PAYLOAD_TOO_LARGE`): a decompression bomb never inflates
 *   past the limit, in memory or in time.
 */
export function decodeRequestBody(limit: number): preParsingAsyncHookHandler {
  return async (request, _reply, payload) => {
    checkCharset(request.headers['content-type']);
    const coding = request.headers['content-encoding']?.trim().toLowerCase();
    if (!coding || coding === 'identity' || !hasBody(request.raw)) return payload;
    const decoder = Object.hasOwn(DECODERS, coding) ? DECODERS[coding] : undefined;
    if (!decoder) throw new GatewayError('UNSUPPORTED_CONTENT_ENCODING');
    return decoded(payload, decoder(), limit);
  };
}

function checkCharset(contentType: string | undefined): void {
  const charset = /;\s*charset\s*=\s*("?)([^";\s]*)\1/i.exec(contentType ?? '')?.[2];
  if (charset !== undefined && !UTF8.has(charset.toLowerCase())) {
    const message = `The charset \`${charset.slice(0, 40)}\` is not supported: send the JSON body in UTF-8.`;
    throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', message);
  }
}

function hasBody(raw: IncomingMessage): boolean {
  return raw.headers['transfer-encoding'] !== undefined || Number(raw.headers['content-length'] ?? 0) > 0;
}

/**
 * The decompressed body; `receivedEncodedLength` (the compressed bytes read) is what Fastify checks
 * `Content-Length` and its limit against.
 */
function decoded(payload: Readable, decoder: Transform, limit: number): Readable {
  let size = 0;
  const output = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > limit) callback(new GatewayError('PAYLOAD_TOO_LARGE'));
      else callback(null, chunk);
    },
  }) as Transform & { receivedEncodedLength: number };
  output.receivedEncodedLength = 0;
  const count = (chunk: Buffer) => {
    output.receivedEncodedLength += chunk.length;
  };
  // Stops decompressing; the rest of the body flows on raw, to no one.
  const stop = () => {
    payload.off('data', count);
    payload.unpipe(decoder);
    decoder.destroy();
    payload.resume();
  };
  decoder.on('error', () => {
    stop();
    if (!output.destroyed) output.destroy(new GatewayError('BODY_DECODING_FAILED'));
  });
  output.once('error', stop);
  output.once('close', () => {
    if (!decoder.writableFinished) stop();
  });
  payload.on('data', count);
  payload.pipe(decoder).pipe(output);
  return output;
}
