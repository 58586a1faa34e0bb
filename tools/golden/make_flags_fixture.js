// SPDX-License-Identifier: GPL-3.0-or-later
// Adds added tokens with every flag combination to a tokenizer.json trained by
// `brillm vocab build --kind bpe`, saved by the official binding (so the file is also a
// check that HuggingFace loads our trainer's output).
//   node make_flags_fixture.js IN_JSON OUT_JSON
'use strict'
const { Tokenizer, AddedToken } = require('tokenizers')

const [inFile, outFile] = process.argv.slice(2)
const tok = Tokenizer.fromFile(inFile)
const added = [
  new AddedToken('<sw>', false, { singleWord: true, normalized: false }),
  new AddedToken('<ls>', false, { leftStrip: true, normalized: false }),
  new AddedToken('<rs>', true, { rightStrip: true, normalized: false }),
  new AddedToken('<both>', false, { leftStrip: true, rightStrip: true, normalized: false }),
  new AddedToken('ﬁne', false, { normalized: true }), // matched after NFKC, as "fine"
  new AddedToken('Mr. Darcy', false, { normalized: true }),
  new AddedToken('word', false, { singleWord: true, normalized: true }),
  new AddedToken('é', false, { normalized: false }), // NFC input only, raw match
  new AddedToken('<ls><rs>', false, { normalized: false }), // longer than its parts
]
tok.addAddedTokens(added)
tok.save(outFile, true)
console.log(`${outFile}: ${tok.getVocabSize(true)} tokens`)
