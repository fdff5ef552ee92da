// Runs portal/static/verify.js under Node (its WebCrypto is the browser's API) on cases the
// Python side makes: {"inclusion": [[index, size, leafB64, [proofB64...], rootB64]...],
// "receipts": [{receipt, pinned, witnesses}...]}. Prints one JSON line: the inclusion cases
// that came out wrong, and each receipt's outcome.
import { readFileSync } from 'node:fs';
import { rootFromInclusionProof, verifyReceipt } from '../../portal/static/verify.js';

const cases = JSON.parse(readFileSync(0, 'utf8'));
const bytes = (b64) => Uint8Array.from(Buffer.from(b64, 'base64'));
const same = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
const wrong = [];
for (const [index, size, leaf, proof, root] of cases.inclusion) {
  const found = await rootFromInclusionProof(index, size, bytes(leaf), proof.map(bytes));
  if (!same(found, bytes(root))) wrong.push(`inclusion ${index}/${size}`);
}
const outcomes = [];
for (const { receipt, pinned, witnesses } of cases.receipts) {
  try {
    const checks = await verifyReceipt(receipt, pinned, witnesses ?? []);
    outcomes.push({ outcome: 'verified', checks: checks.map(([name]) => name), witnesses: checks.at(-1)[1].count });
  } catch (error) {
    outcomes.push({ outcome: 'failed', why: error.message });
  }
}
console.log(JSON.stringify({ wrong, outcomes }));
