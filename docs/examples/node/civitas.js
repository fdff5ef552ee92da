// The pieces a relying service written in Node.js needs to call Civitas: the stubs loaded from
// the .proto files, credentials, refusals decoded from google.rpc.Status, retries, TOTP codes and
// offline JWT checks. docs/relying-services.md shows each region below; a test checks that the
// guide and this file agree byte for byte, and runs it against a real server.
// #region stubs
import { createHmac, createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
// The repository's protos/ folder; a relying service copies protos/civitas/v1/*.proto.
const PROTOS = process.env.CIVITAS_PROTOS ?? `${HERE}../../../protos`;

const definition = protoLoader.loadSync(
  ['civitas/v1/identity.proto', 'civitas/v1/history.proto'],
  // keepCase: the fields keep their .proto names (citizen_id, not citizenId).
  { includeDirs: [PROTOS], keepCase: true, longs: String, enums: String, defaults: true },
);
const { civitas } = grpc.loadPackageDefinition(definition);

export function civitasClients(target, credentials) {
  return {
    identity: new civitas.v1.IdentityService(target, credentials),
    history: new civitas.v1.HistoryService(target, credentials),
  };
}
// #endregion stubs

// #region credentials
// TLS always, outside a developer's own machine. With a client certificate (mTLS) the
// certificate's common name is the service account's name and no API key is needed.
export function channelCredentials({ caFile, certFile, keyFile } = {}) {
  if (!caFile) return grpc.credentials.createInsecure(); // `civitas serve` in dev mode only
  return grpc.credentials.createSsl(
    readFileSync(caFile),
    keyFile ? readFileSync(keyFile) : null,
    certFile ? readFileSync(certFile) : null,
  );
}

// `bearer` is the service account's API key (cvk.…) or, for HistoryService, the citizen's JWT.
export function callMetadata({ bearer, language } = {}) {
  const metadata = new grpc.Metadata();
  if (bearer) metadata.set('authorization', `Bearer ${bearer}`);
  if (language) metadata.set('accept-language', language); // LocalizedMessage: en, et, fr
  return metadata;
}

// One unary call as a promise, with a deadline (grpc-js has none by default).
export function unary(client, method, request, metadata, seconds = 10) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + seconds * 1000);
    client[method](request, metadata, { deadline }, (error, reply) =>
      error ? reject(error) : resolve(reply),
    );
  });
}
// #endregion credentials

// #region refusal
// google/rpc/status.proto and error_details.proto, copied from googleapis (Apache-2.0).
const rpc = new protobuf.Root().loadSync(
  ['status.proto', 'error_details.proto'].map((name) => `${HERE}protos/google/rpc/${name}`),
  { keepCase: true },
);
const Status = rpc.lookupType('google.rpc.Status');

// The rich refusal of a failed call: code, English message for logs, and each detail by type.
export function refusal(error) {
  const found = { code: grpc.status[error.code], message: error.details };
  const [bytes] = error.metadata?.get('grpc-status-details-bin') ?? [];
  if (!bytes) return found; // e.g. UNAVAILABLE from the transport: no server answered
  for (const any of Status.decode(bytes).details) {
    const type = rpc.lookupType(any.type_url.slice(any.type_url.lastIndexOf('/') + 1));
    const detail = type.toObject(type.decode(any.value), { longs: Number, defaults: true });
    if (type.name === 'ErrorInfo') Object.assign(found, { reason: detail.reason, domain: detail.domain });
    if (type.name === 'RetryInfo') found.retryAfterMs = durationMs(detail.retry_delay);
    if (type.name === 'LocalizedMessage') found.localized = detail; // { locale, message }
    if (type.name === 'BadRequest') {
      found.violations = detail.field_violations.map(({ field, description }) => ({ field, description }));
    }
  }
  return found;
}

function durationMs({ seconds = 0, nanos = 0 } = {}) {
  return seconds * 1000 + Math.ceil(nanos / 1e6);
}
// #endregion refusal

// #region retry
// UNAVAILABLE (not yet, or no server reached) and ABORTED (a concurrent change) are worth
// another try of the whole call; every other refusal will fail again the same way.
const RETRYABLE = new Set(['UNAVAILABLE', 'ABORTED']);

export async function withRetry(call, { attempts = 10, firstDelayMs = 100 } = {}) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      const refused = refusal(error);
      if (!RETRYABLE.has(refused.code) || attempt >= attempts) throw error;
      // The server's RetryInfo when it sent one, else exponential backoff with jitter.
      const backoff = firstDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random());
      await sleep(refused.retryAfterMs ?? Math.min(backoff, 5000));
    }
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// #endregion retry

// #region time
// API times are google.protobuf.Timestamp, which proto-loader gives as { seconds, nanos }
// (seconds as a string, with `longs: String`).
export function isoTime(timestamp) {
  if (!timestamp) return null; // an unset field, e.g. decided_at before a decision
  return new Date(Number(timestamp.seconds) * 1000 + Math.floor(timestamp.nanos / 1e6)).toISOString();
}
// #endregion time

// #region totp
// RFC 6238 with the parameters Civitas uses (SHA-1, 6 digits, 30 s), from the otpauth:// URI
// a citizen scans. A real citizen's app computes this; a script or test does it here.
export function totpCode(provisioningUri, atMs = Date.now()) {
  const uri = new URL(provisioningUri);
  const key = base32Decode(uri.searchParams.get('secret'));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atMs / 30_000)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f; // RFC 4226 section 5.3, dynamic truncation
  const number = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(number % 1_000_000).padStart(6, '0');
}

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const char of text.replace(/=+$/, '').toUpperCase()) {
    const value = alphabet.indexOf(char);
    if (value < 0) throw new Error('the TOTP secret is not base32');
    bits += value.toString(2).padStart(5, '0');
  }
  const bytes = bits.match(/.{8}/g) ?? [];
  return Buffer.from(bytes.map((byte) => parseInt(byte, 2)));
}
// #endregion totp

// #region jwt
// Check a Civitas JWT offline (RFC 8725): exactly EdDSA, the key chosen by `kid` from the
// JWKS that GetJwks returned (never from the token), then issuer, audience and times.
export function verifyJwt(token, jwks, { issuer, audience, leewaySeconds = 30 }) {
  const [header64, payload64, signature64, extra] = token.split('.');
  if (!signature64 || extra !== undefined) throw new Error('not a signed JWT');
  const header = JSON.parse(Buffer.from(header64, 'base64url'));
  if (header.alg !== 'EdDSA') throw new Error(`algorithm ${header.alg} is not accepted`);
  const jwk = jwks.keys.find((key) => key.kid === header.kid && key.crv === 'Ed25519');
  if (!jwk) throw new Error('unknown kid: fetch the JWKS again (the key may have been rotated)');
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
  const signed = Buffer.from(`${header64}.${payload64}`, 'ascii');
  if (!verify(null, signed, key, Buffer.from(signature64, 'base64url'))) {
    throw new Error('the signature does not verify');
  }
  const claims = JSON.parse(Buffer.from(payload64, 'base64url'));
  const now = Date.now() / 1000;
  if (claims.iss !== issuer) throw new Error('another issuer');
  if (![claims.aud].flat().includes(audience)) throw new Error('not meant for this audience');
  if (!(now - leewaySeconds < claims.exp)) throw new Error('expired');
  if (claims.iat > now + leewaySeconds) throw new Error('issued in the future');
  return claims;
}
// #endregion jwt
