// Checks of the guide's Node.js helpers that the happy path alone would not catch, driven by
// tests/docs/test_relying_services.py: one JSON object in on stdin, one JSON object out.
//   node guide_checks.mjs webauthn  {creation_options_json, registration_json, request_options_json, assertion_json}
//   node guide_checks.mjs jwt       {token, jwks, issuer, audience}
//   node guide_checks.mjs time      {values: [...]}
// Buffers here come from Node's own base64url codec, independent of the code under test.
import { readFileSync } from 'node:fs';

const EXAMPLE = new URL('../../docs/examples/node/', import.meta.url);

const bytes = (text) => {
  const buffer = Buffer.from(text, 'base64url');
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
};

// ArrayBuffers shown as {arrayBuffer: base64url}, so the caller sees both type and content.
function shown(value) {
  if (value instanceof ArrayBuffer) return { arrayBuffer: Buffer.from(value).toString('base64url') };
  if (Array.isArray(value)) return value.map(shown);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, shown(item)]));
  }
  return value;
}

// What navigator.credentials.create()/get() hands the page: a PublicKeyCredential, its binary
// members as ArrayBuffers. Built here from the JSON a software authenticator produced.
function credentialFrom(json, kind) {
  const parsed = JSON.parse(json);
  const response = Object.fromEntries(
    Object.entries(parsed.response)
      .filter(([key]) => key !== 'transports')
      .map(([key, value]) => [key, bytes(value)]),
  );
  if (kind === 'registration') response.getTransports = () => parsed.response.transports;
  return {
    id: parsed.id,
    rawId: bytes(parsed.rawId),
    type: parsed.type,
    authenticatorAttachment: parsed.authenticatorAttachment,
    getClientExtensionResults: () => parsed.clientExtensionResults,
    response,
  };
}

async function webauthn(given) {
  const browser = await import(new URL('webauthn-browser.js', EXAMPLE));
  const out = { hasJsonSupport: browser.hasJsonSupport() };
  if (given.creation_options_json) {
    out.creation_options = shown(browser.creationOptionsFromJSON(JSON.parse(given.creation_options_json)));
  }
  if (given.request_options_json) {
    out.request_options = shown(browser.requestOptionsFromJSON(JSON.parse(given.request_options_json)));
  }
  if (given.registration_json) {
    const credential = credentialFrom(given.registration_json, 'registration');
    out.credential_json = JSON.stringify(browser.registrationToJSON(credential));
  }
  if (given.assertion_json) {
    const credential = credentialFrom(given.assertion_json, 'assertion');
    out.assertion_json = JSON.stringify(browser.assertionToJSON(credential));
  }
  const sample = Uint8Array.from({ length: 64 }, (_, index) => (index * 37 + 11) % 256);
  out.base64url = [0, 1, 2, 3, 31, 32, 33, 64].map((length) => {
    const view = sample.subarray(64 - length); // a view with an offset, as well as a buffer
    const encoded = browser.toBase64url(view);
    return {
      encoded,
      expected: Buffer.from(view).toString('base64url'),
      roundTrip: Buffer.from(browser.fromBase64url(encoded)).equals(Buffer.from(view)),
    };
  });
  return out;
}

async function jwt({ token, jwks, issuer, audience }) {
  const { verifyJwt } = await import(new URL('civitas.js', EXAMPLE));
  const [header, payload, signature] = token.split('.');
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const decoded = JSON.parse(Buffer.from(header, 'base64url'));
  const flipped = signature[0] === 'A' ? `B${signature.slice(1)}` : `A${signature.slice(1)}`;
  const cases = {
    valid: [token, audience],
    tampered_signature: [`${header}.${payload}.${flipped}`, audience],
    tampered_claims: [`${header}.${encode({ ...JSON.parse(Buffer.from(payload, 'base64url')), acr: 'AAL3' })}.${signature}`, audience],
    alg_none: [`${encode({ ...decoded, alg: 'none' })}.${payload}.`, audience],
    unknown_kid: [`${encode({ ...decoded, kid: 'elsewhere' })}.${payload}.${signature}`, audience],
    other_audience: [token, 'another-service'],
    other_issuer: [token, audience, 'https://another-issuer.example'],
  };
  return Object.fromEntries(
    Object.entries(cases).map(([name, [candidate, expected, expectedIssuer = issuer]]) => {
      try {
        const claims = verifyJwt(candidate, jwks, { issuer: expectedIssuer, audience: expected });
        return [name, { accepted: true, sub: claims.sub }];
      } catch (error) {
        return [name, { accepted: false, error: error.message }];
      }
    }),
  );
}

async function time({ values }) {
  const { isoTime } = await import(new URL('civitas.js', EXAMPLE));
  return { iso: values.map(isoTime) };
}

const input = JSON.parse(readFileSync(0, 'utf8'));
const checks = { webauthn, jwt, time };
console.log(JSON.stringify(await checks[process.argv[2]](input)));
