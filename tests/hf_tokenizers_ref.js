// Reference encodings from Hugging Face tokenizers (npm package `tokenizers`, the official
// Node binding of the Rust library) for tests/tokenizer_gpt2_test.cpp: checks that a
// tokenizer.json written by softslm loads in Hugging Face tokenizers and encodes the same.
// Usage: node hf_tokenizers_ref.js <tokenizers package dir> <tokenizer.json> <in.json> <out.json>
//   in.json:  array of strings
//   out.json: array of {"ids": [token ids], "decoded": decode(ids)}
// Added (special) tokens are always split out by Hugging Face, so compare with
// tokenizer_encode(..., allow_special=true).
'use strict';
const fs = require('fs');
const [pkg, tokPath, inPath, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error('usage: node hf_tokenizers_ref.js <package dir> <tokenizer.json> <in> <out>');
  process.exit(2);
}
const { Tokenizer } = require(pkg);

async function main() {
  const tok = Tokenizer.fromFile(tokPath);
  const texts = JSON.parse(fs.readFileSync(inPath, 'utf-8'));
  const out = [];
  for (const t of texts) {
    const enc = await tok.encode(t, null, { addSpecialTokens: false });
    const ids = enc.getIds();
    out.push({ ids, decoded: await tok.decode(ids, false) });
  }
  fs.writeFileSync(outPath, JSON.stringify(out));
}
main().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
