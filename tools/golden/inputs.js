// SPDX-License-Identifier: GPL-3.0-or-later
// The input lines of the golden tokenizer fixtures: hand-picked hard cases, lines of the
// Austen demo corpus, and deterministic pseudo-random mixtures of Unicode classes.
'use strict'
const fs = require('fs')

const handPicked = [
  '', ' ', '  ', '\t', '\n', '\r\n', 'a', 'Hello world', 'Hello  world', ' Hello world', 'Hello world ',
  'The quick brown fox jumps over the lazy dog.',
  "It's a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.",
  "don't won't I'm we'll they've she'd you're it's", "DON'T I'M WE'LL", "'s't're've'm'll'd", "' s", "'''", "''s", "?'s", " 's",
  'a' + ' '.repeat(50) + 'b', 'x' + '\t'.repeat(20) + 'y', 'p' + '\n'.repeat(12) + 'q', ' '.repeat(37), '\t \t \n \r\n  ',
  'trailing spaces   ', '   leading spaces', 'mixed \t whitespace \n here', 'a\u00a0b\u00a0\u00a0c', 'em\u2003space', 'ideographic\u3000space',
  'zero\u200bwidth', 'next\u0085line', 'line\u2028sep', 'para\u2029sep', 'ogham\u1680space', 'thin\u2009space', 'nnbsp\u202fx', 'mmsp\u205fx',
  'ctrl\u0001\u0002\u001f\u007fend', 'nul\u0000byte', 'bell\u0007 esc\u001b[0m', 'vt\u000bff\u000ccr\rlf\n',
  '12345', '3.14159', '1,000,000', '2024-01-01', '٣٤٥ arabic digits', '१२३ devanagari digits', 'Ⅻ roman', '½ ¼ ¾', 'x² y³ H₂O', '①②③', '⑴ ⒈ ⓵',
  '😀', '😀😃😄', 'smile 😀 ok', '👨‍👩‍👧‍👦 family', '🇬🇧🇫🇷 flags', '👍🏽 thumbs', '❤️ heart', '🏳️‍🌈', '1️⃣ keycap',
  '中文字符测试', '我爱北京天安门。', '全宋词：气和玉烛，睿化著鸿明。', 'ひらがな カタカナ 漢字', '한국어 텍스트', '\u1100\u1161\u11a8 jamo',
  'e\u0301 composed?', 'é', 'a\u0308\u0304', 'Z\u0351\u0352\u0353algo', 'हिन्दी भाषा', 'مرحبا بالعالم', 'שלום עולם', 'ภาษาไทย', 'Ελληνικά', 'Русский текст', 'ქართული',
  'ＡＢＣ１２３！？', 'ﬁre ﬂy ﬀ', 'Å Ω K', 'ℌℑℜ', '㎏ ㎞ ㍻', 'ｶﾀｶﾅ halfwidth', 'Ⓐⓑ', '™ ℠ ℡', '…', '‥', 'ǅ ǈ ǋ', 'İstanbul ß ẞ', '\u00adsoft\u00adhyphen', '\ufeffbom start',
  'variation\ufe0fselector', 'combining \u0345 ypogegrammeni', '〹〸', '㍿', '﷽', 'Ǆ', 'ŉ', 'ſt', 'µ', '¨', '´', '¸',
  '[CLS] hello [SEP]', '[CLS][SEP]', 'x[MASK]y', '[PAD]', '[UNK]', '[cls]', '[ CLS]', '[[CLS]]', '[CLS', 'CLS]', ' [SEP] ', '[SEP]  [SEP]', 'a [MASK] b',
  '[CLS]\n[SEP]', '[PAD][PAD][PAD]', 'ｆｕｌｌ [CLS] ｗｉｄｔｈ', '[MASK]😀[MASK]',
  '£100 and _emphasis_ here', '-- ... — – “quoted” ‘single’ «guillemets»', 'http://example.com/path?q=1&r=2', 'mail@example.org',
  'int main() { return 0; }', 'def f(x): return x**2 # comment', '∑∫√∞≈≠', 'back\\slash "quotes"', '<html><body>tags</body></html>',
  'CamelCaseWord snake_case_word kebab-case-word', 'ALLCAPS lowercase MiXeD', 'a1b2c3', '123abc', 'abc123', ' 123', ' !!!', '!!! ', ' \u00e9t\u00e9',
  'Mr. Darcy said, "I have been meditating on the very great pleasure which a pair of fine eyes in the face of a pretty woman can bestow."',
  'supercalifragilisticexpialidocious', 'Pneumonoultramicroscopicsilicovolcanoconiosis', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  'ababababababababababababababab', 'thethethethethethe', 'the the the the', 'Ġ Ċ ĉ', 'ĠĠĠ', 'Âł', '\u0100\u0101\u0120',
]

// Exercise the added-token flags of the flags fixture (harmless for other tokenizers).
const addedTokenLines = [
  'a <sw> b', 'a<sw>b', '<sw>', 'x <sw>', '<sw> y', 'é<sw>', '_<sw>_', 'a  <ls>  b', 'a<ls>b', '<ls>', '   <ls>', 'a \t\n <ls>',
  'a  <rs>  b', '<rs>   ', '<rs>\n\nz', 'x <both>   y', '<both><both>', '  <both>  <both>  ', '<ls><rs>', 'a <ls> <rs> b', '<ls><rs><ls>',
  'ﬁne', 'fine', 'a ﬁne day', 'ﬁnest', 'refined', 'Mr. Darcy', 'Mr.  Darcy', 'Mr. Darcy\'s', 'ＭＲ. Darcy', 'Mr. Ｄarcy',
  'word', 'a word b', 'words', 'sword', 'word.', '(word)', 'word_', 'wordé', 'éword', 'word\u0301', '\u0301word', 'ｗｏｒｄ', 'a ｗｏｒｄ b',
  'é', 'e\u0301', 'café', 'cafe\u0301', 'é<rs> é', '[CLS]<sw> [SEP]<ls>', '<sw<sw>>', '<<ls>>', '<rs<rs>', 'no tokens here',
]

function austenLines(file, count) {
  if (!file || !fs.existsSync(file)) return []
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim().length > 0)
  const out = []
  const step = Math.max(1, Math.floor(lines.length / count))
  for (let i = 0; i < lines.length && out.length < count; i += step) out.push(lines[i])
  // A few whole paragraphs with their hard line breaks.
  const paras = fs.readFileSync(file, 'utf8').split('\n\n')
  for (let i = 100; i < paras.length && out.length < count + 20; i += Math.floor(paras.length / 20)) out.push(paras[i])
  return out
}

function mixtures(count) {
  const pools = [
    'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', '0123456789', ' ', ' ', '\t\n', '.,;:!?\'"()[]{}-_/\\@#$%^&*+=<>|~`',
    'éèêëàâäôöüçñßøåæœ', '中文字符测试我爱你', 'ひらがなカタカナ', '😀🎉👍🏽❤️', '\u00a0\u3000\u2003\u200b', 'ＡＢＣ１２３ﬁﬂ½²', '\u0301\u0308\u0345',
    "'s'tre've", '[CLS][SEP][MASK]', 'Ωπσδφγ', 'мирпривет',
  ]
  let seed = 12345
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
  const out = []
  for (let i = 0; i < count; i++) {
    const len = 1 + Math.floor(rand() * 40)
    let s = ''
    for (let k = 0; k < len; k++) {
      const pool = Array.from(pools[Math.floor(rand() * pools.length)])
      s += pool[Math.floor(rand() * pool.length)]
    }
    out.push(s)
  }
  return out
}

function allInputs(austenFile) {
  return [...handPicked, ...addedTokenLines, ...austenLines(austenFile, 200), ...mixtures(120)]
}

module.exports = { allInputs }
