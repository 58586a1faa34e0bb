// SPDX-License-Identifier: GPL-3.0-or-later
// Compares `brillm tokenize --json` with the official HuggingFace binding, line by line,
// on any tokenizer.json (e.g. one trained by `brillm vocab build --kind bpe`) and text file.
//   node compare.js BRILLM_EXECUTABLE TOKENIZER_JSON TEXT_FILE [MAX_LINES]
// Exit status 0 when every line gives the same ids and tokens.
'use strict'
const fs = require('fs')
const { execFileSync } = require('child_process')
const { Tokenizer } = require('tokenizers')

async function main() {
  const [brillm, tokFile, textFile, maxLines] = process.argv.slice(2)
  if (!brillm || !tokFile || !textFile) {
    console.error('usage: node compare.js BRILLM_EXECUTABLE TOKENIZER_JSON TEXT_FILE [MAX_LINES]')
    process.exit(2)
  }
  let lines = fs.readFileSync(textFile, 'utf8').split('\n').map((l) => l.replace(/\r$/, ''))
  if (lines.length && lines[lines.length - 1] === '') lines.pop()
  if (maxLines) lines = lines.slice(0, Number(maxLines))
  const ours = execFileSync(brillm, ['tokenize', '--json', '--tokenizer', tokFile], {
    input: lines.join('\n') + '\n',
    maxBuffer: 1 << 30,
  })
    .toString('utf8')
    .split('\n')
    .filter((l) => l.length)
    .map((l) => JSON.parse(l))
  const tok = Tokenizer.fromFile(tokFile)
  let bad = 0
  for (let i = 0; i < lines.length; i++) {
    const enc = await tok.encode(lines[i])
    const same = JSON.stringify(enc.getIds()) === JSON.stringify(ours[i].ids) && JSON.stringify(enc.getTokens()) === JSON.stringify(ours[i].tokens)
    if (!same && bad++ < 5) console.error(`line ${i + 1} differs: ${JSON.stringify(lines[i])}\n  hf:     ${enc.getTokens()}\n  brillm: ${ours[i].tokens}`)
  }
  console.log(`${tokFile} on ${textFile}: ${lines.length - bad} of ${lines.length} lines identical`)
  process.exit(bad ? 1 : 0)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
