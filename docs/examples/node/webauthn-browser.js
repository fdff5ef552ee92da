// The portal page's half of a passkey ceremony (browser JavaScript, an ES module). The page gets
// options_json / passkey_options_json from its own back end (which called Civitas), runs the
// ceremony, and posts the JSON string back for CompletePasskeyRegistration /
// CompleteAuthentication. Only the conversion functions touch no browser API, so they also run
// under Node, where tests/docs/test_relying_services.py checks them against a real server.

// #region native
// WebAuthn Level 3's JSON methods: in every current engine since 2025, missing in older ones.
export const hasJsonSupport = () =>
  typeof PublicKeyCredential !== 'undefined' &&
  typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function' &&
  typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function';

export async function createPasskey(optionsJson) {
  const publicKey = hasJsonSupport()
    ? PublicKeyCredential.parseCreationOptionsFromJSON(JSON.parse(optionsJson))
    : creationOptionsFromJSON(JSON.parse(optionsJson));
  const credential = await navigator.credentials.create({ publicKey });
  // credential_json for CompletePasskeyRegistration (a RegistrationResponseJSON).
  return JSON.stringify(hasJsonSupport() ? credential.toJSON() : registrationToJSON(credential));
}

export async function usePasskey(passkeyOptionsJson) {
  const publicKey = hasJsonSupport()
    ? PublicKeyCredential.parseRequestOptionsFromJSON(JSON.parse(passkeyOptionsJson))
    : requestOptionsFromJSON(JSON.parse(passkeyOptionsJson));
  const credential = await navigator.credentials.get({ publicKey });
  // passkey_assertion_json for CompleteAuthentication (an AuthenticationResponseJSON).
  return JSON.stringify(hasJsonSupport() ? credential.toJSON() : assertionToJSON(credential));
}
// #endregion native

// #region manual
// Unpadded base64url (RFC 4648 section 5), which is how every binary WebAuthn field travels.
export function fromBase64url(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (char) => char.charCodeAt(0)).buffer;
}

export function toBase64url(buffer) {
  const bytes = ArrayBuffer.isView(buffer)
    ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
    : new Uint8Array(buffer);
  const binary = Array.from(bytes, (byte) => String.fromCharCode(byte)).join('');
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const withIds = (descriptors = []) =>
  descriptors.map((descriptor) => ({ ...descriptor, id: fromBase64url(descriptor.id) }));

// options_json: challenge, user.id and excludeCredentials[].id are base64url.
export function creationOptionsFromJSON(options) {
  return {
    ...options,
    challenge: fromBase64url(options.challenge),
    user: { ...options.user, id: fromBase64url(options.user.id) },
    excludeCredentials: withIds(options.excludeCredentials),
  };
}

// passkey_options_json: challenge and allowCredentials[].id are base64url.
export function requestOptionsFromJSON(options) {
  return {
    ...options,
    challenge: fromBase64url(options.challenge),
    allowCredentials: withIds(options.allowCredentials),
  };
}

// credential_json: rawId, response.clientDataJSON and response.attestationObject are base64url.
export function registrationToJSON(credential) {
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
    response: {
      clientDataJSON: toBase64url(credential.response.clientDataJSON),
      attestationObject: toBase64url(credential.response.attestationObject),
      transports: credential.response.getTransports?.() ?? [],
    },
  };
}

// passkey_assertion_json: rawId and response.clientDataJSON, authenticatorData, signature and
// userHandle are base64url.
export function assertionToJSON(credential) {
  const { response } = credential;
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
    response: {
      clientDataJSON: toBase64url(response.clientDataJSON),
      authenticatorData: toBase64url(response.authenticatorData),
      signature: toBase64url(response.signature),
      userHandle: response.userHandle ? toBase64url(response.userHandle) : undefined,
    },
  };
}
// #endregion manual
