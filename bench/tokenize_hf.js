// SPDX-License-Identifier: GPL-3.0-or-later
// Encode speed of the official HuggingFace tokenizers npm binding on a text file, per line.
//   node tokenize_hf.js TOKENIZER_JSON TEXT_FILE REPEATS
// Prints one JSON object: bytes, lines, tokens, and the best seconds of each mode.
'use strict'
const fs = require('fs')
const path = require('path')
const { Tokenizer } = require(path.join(__dirname, '..', 'tools', 'golden', 'node_modules', 'tokenizers'))

async function main() {
  const [tokFile, textFile, repeatsArg] = process.argv.slice(2)
  const repeats = Number(repeatsArg || 3)
  const text = fs.readFileSync(textFile, 'utf8')
  let lines = text.split('\n').map((l) => l.replace(/\r$/, ''))
  const tok = Tokenizer.fromFile(tokFile)
  const best = { sequential: Infinity, batch: Infinity }
  const cpu = { sequential: Infinity, batch: Infinity } // process CPU seconds, binding threads included
  const cpuNow = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
  let tokens = 0
  for (let r = 0; r < repeats; r++) {
    // One line at a time, awaiting each: the binding's plain encode() path.
    let t0 = process.hrtime.bigint()
    let c0 = cpuNow()
    let n = 0
    for (const line of lines) n += (await tok.encode(line)).getLength()
    best.sequential = Math.min(best.sequential, Number(process.hrtime.bigint() - t0) / 1e9)
    cpu.sequential = Math.min(cpu.sequential, cpuNow() - c0)
    tokens = n
    // All lines in batches of 1024: encodeBatch, which runs in parallel on every core.
    t0 = process.hrtime.bigint()
    c0 = cpuNow()
    for (let i = 0; i < lines.length; i += 1024) await tok.encodeBatch(lines.slice(i, i + 1024))
    best.batch = Math.min(best.batch, Number(process.hrtime.bigint() - t0) / 1e9)
    cpu.batch = Math.min(cpu.batch, cpuNow() - c0)
  }
  const version = require(path.join(__dirname, '..', 'tools', 'golden', 'node_modules', 'tokenizers', 'package.json')).version
  console.log(JSON.stringify({ binding: `tokenizers@${version}`, node: process.version, bytes: Buffer.byteLength(text), lines: lines.length, tokens, seconds: best, cpu_seconds: cpu }))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
