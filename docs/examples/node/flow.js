// A relying service's whole flow against a running Civitas, one JSON line per step on stdout:
//   CIVITAS_TARGET=127.0.0.1:50051 CIVITAS_API_KEY=cvk.… node flow.js [receipt.json]
// or, under mutual TLS, CIVITAS_CA_CERT, CIVITAS_CLIENT_CERT and CIVITAS_CLIENT_KEY (PEM files)
// instead of the API key. The service account needs an agency role (agency:<name>).
import { writeFileSync } from 'node:fs';
import {
  callMetadata,
  channelCredentials,
  civitasClients,
  isoTime,
  refusal,
  sleep,
  totpCode,
  unary,
  verifyJwt,
  withRetry,
} from './civitas.js';

const target = process.env.CIVITAS_TARGET ?? '127.0.0.1:50051';
const receiptFile = process.argv[2] ?? 'receipt.json';
const print = (step, fields) => console.log(JSON.stringify({ step, ...fields }));

// #region connect
const { identity, history } = civitasClients(
  target,
  channelCredentials({
    caFile: process.env.CIVITAS_CA_CERT, // the CA that signed the server's certificate
    certFile: process.env.CIVITAS_CLIENT_CERT, // mTLS: CN = the service account's name
    keyFile: process.env.CIVITAS_CLIENT_KEY,
  }),
);
// Under mTLS without an API key this metadata is empty: the certificate says who calls.
const asService = callMetadata({ bearer: process.env.CIVITAS_API_KEY });
// #endregion connect

// #region register
const citizen = await unary(identity, 'RegisterCitizen', {
  personal_data: {
    given_name: 'Mari',
    family_name: 'Maasikas',
    birth_date: '1990-04-17',
    email: 'mari@example.org',
    national_identifier: `EE-${Date.now()}`,
  },
  assurance: 'IAL2', // enums by name, as loaded with enums: String
  evidence: 'passport checked at the service desk',
}, asService);
const citizenId = citizen.citizen_id;
// #endregion register
print('register', { citizen_id: citizenId, eidas_level: citizen.eidas_level });

// #region invalid
try {
  await unary(identity, 'RegisterCitizen', {
    personal_data: { birth_date: '17.04.1990', email: 'not an address' },
    assurance: 'IAL2',
  }, callMetadata({ bearer: process.env.CIVITAS_API_KEY, language: 'fr, en;q=0.5' }));
} catch (error) {
  const why = refusal(error);
  // why.code 'INVALID_ARGUMENT', why.reason 'INVALID_ARGUMENT', why.domain 'civitas',
  // why.localized { locale: 'fr', message: 'Certaines informations …' },
  // why.violations [{ field: 'personal_data.national_identifier', description: 'is required' }, …]
  print('invalid', why);
}
// #endregion invalid

// #region enrol
const PASSWORD = 'correct horse battery staple';
await unary(identity, 'SetPassword', { citizen_id: citizenId, password: PASSWORD }, asService);

const enrolment = await unary(identity, 'BeginTotpEnrollment', {
  citizen_id: citizenId,
  label: 'phone',
}, asService);
// Show enrolment.qr_svg (or qr_png) to the citizen; their app shows a code, they type it back.
await unary(identity, 'ConfirmTotpEnrollment', {
  citizen_id: citizenId,
  authenticator_id: enrolment.authenticator_id,
  code: totpCode(enrolment.provisioning_uri),
}, asService);
// #endregion enrol
print('enrol', { authenticator_id: enrolment.authenticator_id, uri_scheme: new URL(enrolment.provisioning_uri).protocol });

// #region wrong-password
const first = await unary(identity, 'BeginAuthentication', { citizen_id: citizenId }, asService);
try {
  await unary(identity, 'CompleteAuthentication', {
    attempt_id: first.attempt_id,
    password: 'not the password',
  }, callMetadata({ bearer: process.env.CIVITAS_API_KEY, language: 'et' }));
} catch (error) {
  const why = refusal(error);
  // UNAUTHENTICATED; why.reason names the failed check. The attempt is spent and recorded.
  print('wrong_password', why);
}
// #endregion wrong-password

// #region sign-in
const client = { address: '203.0.113.7', user_agent: 'Mozilla/5.0 (portal example)' };
const challenge = await unary(identity, 'BeginAuthentication', {
  citizen_id: citizenId,
  client,
  required_acr: 'AAL2', // a sign-in below it is refused (ASSURANCE_TOO_LOW), never returned
}, asService);
// challenge.available_methods: ['password', 'totp']; the attempt expires at challenge.expires_at.
const signedIn = await unary(identity, 'CompleteAuthentication', {
  attempt_id: challenge.attempt_id,
  password: PASSWORD,
  // The confirmation above spent this 30 s step's code and each code is accepted once, so a
  // script takes the next step's (the server accepts one step either side of its clock).
  totp_code: totpCode(enrolment.provisioning_uri, Date.now() + 30_000),
  client,
}, asService);
// #endregion sign-in
const signedInAt = Date.now();
print('sign_in', {
  available_methods: challenge.available_methods,
  attempt_expires_at: isoTime(challenge.expires_at),
  acr: signedIn.acr,
  amr: signedIn.amr,
  eidas_level: signedIn.eidas_level,
  expires_at: isoTime(signedIn.expires_at),
});

// #region jwt-check
const jwks = JSON.parse((await unary(identity, 'GetJwks', {}, asService)).json);
const claims = verifyJwt(signedIn.token, jwks, {
  issuer: process.env.CIVITAS_TOKEN_ISSUER ?? 'civitas', // the deployment's --token-issuer
  audience: process.env.CIVITAS_TOKEN_AUDIENCE ?? 'civitas', // and --token-audience
});
// claims.sub is the citizen id, claims.sid the session, claims.jti this token, acr/amr as above.
// #endregion jwt-check
print('jwt', { kid: JSON.parse(Buffer.from(signedIn.token.split('.')[0], 'base64url')).kid, ...claims });

// #region refresh
// Before the token expires (or when the citizen comes back within the idle limit), swap it for
// a new one: same session, new `jti`. The old token is refused from now on; presenting it to
// RefreshSession again would end the session (reuse detection), so refresh from one place.
const refreshed = await unary(identity, 'RefreshSession', { token: signedIn.token, client }, asService);
let oldToken;
try {
  await unary(history, 'ListMyHistory', { page_size: 1 }, callMetadata({ bearer: signedIn.token }));
} catch (error) {
  oldToken = refusal(error); // UNAUTHENTICATED, reason INVALID_TOKEN
}
// #endregion refresh
const refreshedClaims = verifyJwt(refreshed.token, jwks, {
  issuer: claims.iss,
  audience: [claims.aud].flat()[0],
});
print('refresh', {
  same_session: refreshedClaims.sid === claims.sid,
  new_jti: refreshedClaims.jti !== claims.jti,
  acr: refreshed.acr,
  expires_at: isoTime(refreshed.expires_at),
  old_token: { code: oldToken?.code, reason: oldToken?.reason },
});

// #region history
const asCitizen = callMetadata({ bearer: refreshed.token });
const giveUp = Date.now() + 10_000;
let signInItem;
while (!signInItem) {
  // The history is a read model that follows the ledger: a new event shows up moments later.
  if (Date.now() > giveUp) throw new Error('the sign-in is not in the history after 10 s');
  const page = await unary(history, 'ListMyHistory', { kinds: ['sign_in'], page_size: 50 }, asCitizen);
  signInItem = page.items.find((item) => JSON.parse(item.summary_json).outcome === 'success');
  if (!signInItem) await sleep(20);
}
// #endregion history
const inHistoryMs = Date.now() - signedInAt;
print('history', {
  kind: signInItem.kind,
  type: signInItem.type,
  at: isoTime(signInItem.at),
  stream: signInItem.stream,
  version: Number(signInItem.version),
  summary: JSON.parse(signInItem.summary_json),
  in_history_ms: inHistoryMs,
});

// #region receipt
// UNAVAILABLE with reason NOT_YET_SEQUENCED and RetryInfo until a signed checkpoint covers it.
const receipt = await withRetry(() =>
  unary(history, 'GetReceipt', { stream: signInItem.stream, version: signInItem.version }, asCitizen),
);
writeFileSync(receiptFile, receipt.json); // then: civitas-verify receipt receipt.json
// #endregion receipt
const document = JSON.parse(receipt.json);
print('receipt', {
  file: receiptFile,
  index: document.index,
  keys: Object.keys(document).sort(),
  in_checkpoint_ms: Date.now() - signedInAt,
});
identity.close();
history.close();
