// SPDX-License-Identifier: GPL-3.0-or-later
// Writes a golden fixture: for every input line, the ids, tokens and decodings that the
// official HuggingFace tokenizers binding gives for a tokenizer.json.
//   node generate.js TOKENIZER_JSON OUT_JSON [AUSTEN_TXT]
'use strict'
const fs = require('fs')
const path = require('path')
const { Tokenizer } = require('tokenizers')
const { allInputs } = require('./inputs')

async function main() {
  const [tokFile, outFile, austen] = process.argv.slice(2)
  if (!tokFile || !outFile) {
    console.error('usage: node generate.js TOKENIZER_JSON OUT_JSON [AUSTEN_TXT]')
    process.exit(2)
  }
  const tok = Tokenizer.fromFile(tokFile)
  const cases = []
  for (const text of allInputs(austen)) {
    const enc = await tok.encode(text)
    const ids = Array.from(enc.getIds())
    cases.push({
      text,
      ids,
      tokens: enc.getTokens(),
      decoded: await tok.decode(ids, false),
      decoded_skip_special: await tok.decode(ids, true),
    })
  }
  const version = require('tokenizers/package.json').version
  const doc = { generator: 'tools/golden/generate.js', binding: `tokenizers@${version} (npm)`, tokenizer: path.basename(tokFile), cases }
  fs.writeFileSync(outFile, JSON.stringify(doc, null, 0).replace(/\},\{"text"/g, '},\n{"text"') + '\n')
  console.log(`${outFile}: ${cases.length} cases`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
