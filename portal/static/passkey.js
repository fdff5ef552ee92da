// Passkeys: the only part of the portal that needs JavaScript (WebAuthn is a browser API).
// The server hands out the options, the browser's authenticator answers, and the answer is
// posted back in an ordinary form. Binary fields travel as unpadded base64url
// (docs/relying-services.md, "Passkeys in the browser").
'use strict';

function fromBase64url(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
}

function toBase64url(buffer) {
  const bytes = new Uint8Array(buffer);
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const withIds = (list = []) => list.map((d) => ({ ...d, id: fromBase64url(d.id) }));

function requestOptions(o) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(o);
  return { ...o, challenge: fromBase64url(o.challenge), allowCredentials: withIds(o.allowCredentials) };
}

function creationOptions(o) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(o);
  return { ...o, challenge: fromBase64url(o.challenge), user: { ...o.user, id: fromBase64url(o.user.id) }, excludeCredentials: withIds(o.excludeCredentials) };
}

function toJSON(credential) {
  if (typeof credential.toJSON === 'function') return credential.toJSON();
  const r = credential.response;
  const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
  if (r.attestationObject) response.attestationObject = toBase64url(r.attestationObject);
  if (r.authenticatorData) {
    response.authenticatorData = toBase64url(r.authenticatorData);
    response.signature = toBase64url(r.signature);
    if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
  }
  return { id: credential.id, rawId: toBase64url(credential.rawId), type: credential.type, clientExtensionResults: credential.getClientExtensionResults(), response };
}

async function fetchOptions(form, body) {
  const reply = await fetch(form.dataset.options, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': form.dataset.csrf },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (!reply.ok) throw new Error(`options refused: ${reply.status}`);
  return (await reply.json()).options;
}

function wire(form, ceremony, field) {
  if (!form || typeof PublicKeyCredential === 'undefined') return;
  form.hidden = false;
  const noJs = document.getElementById('passkey-no-js');
  if (noJs) noJs.hidden = true;
  let ready = false;
  form.addEventListener('submit', async (event) => {
    if (ready) return; // the second submit carries the answer to the server
    event.preventDefault();
    try {
      const label = form.querySelector('[name=label]');
      const options = await fetchOptions(form, { label: label ? label.value : '' });
      const credential = await ceremony(options);
      document.getElementById(field).value = JSON.stringify(toJSON(credential));
    } catch (error) {
      document.getElementById(field).value = ''; // the server says what went wrong, in words
    }
    ready = true;
    form.submit();
  });
}

wire(document.getElementById('passkey-sign-in'),
  (o) => navigator.credentials.get({ publicKey: requestOptions(o) }), 'passkey');
wire(document.getElementById('passkey-register'),
  (o) => navigator.credentials.create({ publicKey: creationOptions(o) }), 'credential');
