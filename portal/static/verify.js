// Verify a Civitas receipt in this browser, trusting nothing the portal says.
//
// It shares no code with the server. With the browser's own WebCrypto it checks, in order
// (docs/ledger-format.md, sections 2 to 4 and 7):
//   1. the entry's Ed25519 signature, by the entry key named in it, valid at the entry's time;
//   2. the payload's SHA-256 against the entry's payload_sha256 (unless erased);
//   3. the RFC 9162 inclusion proof from the entry's leaf to the checkpoint's root hash;
//   4. the checkpoint's signed-note signature, by the published checkpoint key when the page
//      names one, else by a key of the receipt's own keyring;
//   5. the witnesses' cosignatures (C2SP tlog-cosignature, cosignature/v1, ledger-format
//      section 4) on that checkpoint, by the witness keys the page names (the portal's
//      --witness-key): a line naming one of them that does not verify fails the receipt.
'use strict';

const utf8 = new TextEncoder();

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

async function ed25519Verify(publicKey, signature, message) {
  const key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
}

// RFC 3339 with any number of fraction digits, as milliseconds since the epoch.
function instant(text) {
  return Date.parse(text.replace(/(\.\d{3})\d+/, '$1'));
}

class Failed extends Error {}

function must(condition, why) {
  if (!condition) throw new Failed(why);
}

// 1. The entry signature: Ed25519 over "civitas/entry/v1\n" || the canonical entry bytes.
async function checkSignature(receipt, entry) {
  const key = (receipt.keyring.entry_keys || []).find((k) => k.kid === entry.kid);
  must(key, `no entry key ${entry.kid} in the keyring`);
  const at = instant(entry.at);
  must(instant(key.not_before) <= at && (key.not_after === null || at < instant(key.not_after)),
    `key ${entry.kid} was not valid at ${entry.at}`);
  const message = concat(utf8.encode('civitas/entry/v1\n'), utf8.encode(receipt.entry));
  must(await ed25519Verify(fromBase64(key.public_key), fromBase64(receipt.signature), message),
    'the entry signature does not verify');
  return { kid: entry.kid, at: entry.at };
}

// 2. The payload, as stored, hashes to what the entry committed to.
async function checkPayload(receipt, entry) {
  if (receipt.payload === null) return 'erased';
  must(hex(await sha256(fromBase64(receipt.payload))) === entry.payload_sha256,
    'the payload does not match the signed hash');
  return 'present';
}

// 3. RFC 9162 section 2.1.3.2: from the leaf hash up to the root, one proof hash a level.
export async function rootFromInclusionProof(index, size, leafHash, proof) {
  must(index < size, `entry ${index} is outside a tree of ${size}`);
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    must(sn !== 0, 'the inclusion proof is too long');
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(concat([1], p, r));
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = await sha256(concat([1], r, p));
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  must(sn === 0, 'the inclusion proof is too short');
  return r;
}

// A C2SP signed note: the text up to the blank line, and "— name base64" signature lines.
function parseNote(note) {
  const split = note.indexOf('\n\n');
  must(split > 0, 'the checkpoint is not a signed note');
  const body = note.slice(0, split + 1);
  const signatures = note.slice(split + 2).split('\n').filter((l) => l).map((line) => {
    must(line.startsWith('\u2014 '), 'a checkpoint signature line does not start with an em dash');
    const [name, blob] = line.slice(2).split(' ');
    return { name, bytes: fromBase64(blob) };
  });
  const [origin, size, root] = body.split('\n');
  return { body, origin, size: Number(size), root: fromBase64(root), signatures };
}

// A note verifier key: name+hex key hash+base64(type byte || 32-byte Ed25519 key).
async function parseVerifierKey(vkey, type) {
  const [name, hash, ...rest] = vkey.split('+'); // base64 may hold '+' too
  const blob = rest.join('+');
  const bytes = fromBase64(blob);
  must(bytes[0] === type && bytes.length === 33, `key ${name} is not an Ed25519 key of this kind`);
  const expected = (await sha256(concat(utf8.encode(`${name}\n`), bytes))).slice(0, 4);
  must(hex(expected) === hash, `key ${name} has the wrong key hash`);
  return { name, keyHash: expected, publicKey: bytes.slice(1), text: vkey };
}

// 4. The checkpoint's signature by one of the trusted keys.
async function checkCheckpoint(note, trustedKeys) {
  for (const text of trustedKeys) {
    const key = await parseVerifierKey(text, 0x01);
    for (const sig of note.signatures) {
      if (sig.name !== key.name || !equal(sig.bytes.slice(0, 4), key.keyHash)) continue;
      if (await ed25519Verify(key.publicKey, sig.bytes.slice(4), utf8.encode(note.body))) return key;
    }
  }
  throw new Failed('no trusted key signed the checkpoint');
}

// 5. Witness cosignatures (C2SP tlog-cosignature): key type 0x04, signature = key ID (4) ||
// timestamp (8, big-endian seconds) || Ed25519 over "cosignature/v1\ntime <t>\n" || body.
// Which witnesses count is the reader's policy: the keys given. Lines of other witnesses are
// skipped, as signed-note readers do; a line naming a given witness must verify.
async function verifyWitnessCosignatures(note, witnessKeys) {
  const cosigned = new Set();
  for (const text of witnessKeys) {
    const key = await parseVerifierKey(text, 0x04);
    for (const sig of note.signatures) {
      if (sig.name !== key.name || !equal(sig.bytes.slice(0, 4), key.keyHash)) continue;
      must(sig.bytes.length === 76, `the cosignature of ${key.name} is malformed`);
      const time = new DataView(sig.bytes.buffer, sig.bytes.byteOffset + 4, 8).getBigUint64(0);
      const message = concat(utf8.encode(`cosignature/v1\ntime ${time}\n`), utf8.encode(note.body));
      must(await ed25519Verify(key.publicKey, sig.bytes.slice(12), message),
        `the cosignature of ${key.name} does not verify`);
      cosigned.add(key.text);
    }
  }
  return cosigned.size;
}

export async function verifyReceipt(receipt, pinnedKey, witnessKeys = []) {
  const checks = [];
  const entry = JSON.parse(receipt.entry);
  checks.push(['signature', await checkSignature(receipt, entry)]);
  checks.push([(await checkPayload(receipt, entry)) === 'erased' ? 'payload-erased' : 'payload', {}]);
  const note = parseNote(receipt.checkpoint);
  must(note.origin === receipt.origin, 'the checkpoint is of another ledger');
  const leaf = await sha256(concat([0], utf8.encode(receipt.entry)));
  const root = await rootFromInclusionProof(receipt.index, note.size, leaf, receipt.inclusion_proof.map(fromBase64));
  must(equal(root, note.root), "the inclusion proof does not lead to the checkpoint's root");
  checks.push(['inclusion', { index: receipt.index, size: note.size }]);
  const key = await checkCheckpoint(note, pinnedKey ? [pinnedKey] : receipt.keyring.checkpoint_keys || []);
  checks.push(['checkpoint', { origin: note.origin, key: key.text }]);
  checks.push([pinnedKey ? 'pinned' : 'unpinned', {}]);
  const witnesses = await verifyWitnessCosignatures(note, witnessKeys);
  checks.push([witnesses ? 'witnesses' : 'no-witnesses', { count: witnesses }]);
  return checks;
}

// The page: words from data-msg-* attributes (the page's language), results as a list.
// The page (absent where the script is imported elsewhere, e.g. by its tests under Node).
const panel = typeof document === 'undefined' ? null : document.getElementById('verifier');
if (panel) {
  panel.hidden = false;
  document.getElementById('verify-no-js').hidden = true;
  const say = (name, values = {}) => panel.dataset[`msg${name.replace(/(^|-)(\w)/g, (_, __, c) => c.toUpperCase())}`]
    .replace(/\{(\w+)\}/g, (_, key) => String(values[key]));

  // Times and numbers as the page's language writes them (the ledger's times are UTC).
  const inLocale = (values) => {
    const shown = { ...values };
    if (shown.at) {
      shown.at = `${new Date(instant(shown.at)).toLocaleString(panel.dataset.lang, { dateStyle: 'long', timeStyle: 'medium', timeZone: 'UTC' })} UTC`;
    }
    for (const key of ['index', 'size', 'count']) {
      if (typeof shown[key] === 'number') shown[key] = shown[key].toLocaleString(panel.dataset.lang);
    }
    return shown;
  };

  async function run(text) {
    const result = document.getElementById('result');
    const verdict = document.getElementById('verdict');
    const list = document.getElementById('checks');
    list.replaceChildren();
    const add = (line, ok) => {
      const item = document.createElement('li');
      item.textContent = line;
      item.className = ok ? 'ok' : 'failed';
      list.append(item);
    };
    try {
      const witnessKeys = panel.dataset.witnessKeys.split(' ').filter((key) => key);
      for (const [name, values] of await verifyReceipt(JSON.parse(text), panel.dataset.pinnedKey, witnessKeys)) {
        add(say(name, inLocale(values)), true);
      }
      verdict.textContent = say('ok');
      verdict.className = 'verdict ok';
      verdict.dataset.outcome = 'verified';
    } catch (error) {
      add(say('check-failed', { why: error instanceof Failed ? error.message : String(error) }), false);
      verdict.textContent = say('failed');
      verdict.className = 'verdict failed';
      verdict.dataset.outcome = 'failed';
    }
    result.hidden = false;
  }

  document.getElementById('verify-button').addEventListener('click', async () => {
    const reply = await fetch(panel.dataset.receipt, { credentials: 'same-origin' });
    await run(await reply.text());
  });
  document.getElementById('receipt-file').addEventListener('change', async (event) => {
    const [file] = event.target.files;
    if (file) await run(await file.text());
  });
}
