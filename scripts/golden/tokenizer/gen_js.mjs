// Writes the GPT-NeoX and Llama-3 tokenizer goldens from two independent
// JavaScript implementations. Dev-only: the outputs are committed and CI never
// runs this script.
//
//   cd scripts/golden/tokenizer && npm ci && node gen_js.mjs
//
// Inputs: testdata/tokenizer/samples.json and, from the shared data directory
// ($TTQ_SHARED_DATA or ../shared/data beside the repository),
// tokenizers/gpt-neox-20b/tokenizer.json and tokenizers/llama3/tokenizer.model.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "@huggingface/tokenizers";
import { Tiktoken } from "js-tiktoken/lite";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..", "..");
const shared = process.env.TTQ_SHARED_DATA ?? join(root, "..", "shared", "data");
const outDir = join(root, "testdata", "tokenizer");
const samples = JSON.parse(readFileSync(join(outDir, "samples.json"), "utf8"));

const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
const version = (pkg) =>
  JSON.parse(readFileSync(join(here, "node_modules", pkg, "package.json"), "utf8")).version;

// JavaScript's \s has U+FEFF and lacks U+0085, unlike Oniguruma's (HF
// tokenizers) and regex's (tiktoken); the samples must avoid both.
for (const s of samples) {
  if (s.includes("\u0085") || s.includes("\ufeff")) throw new Error("sample with U+0085/U+FEFF");
}

function write(name, source, encode, roundTrip) {
  const cases = samples.map((text) => {
    const ids = encode(text);
    const back = roundTrip(ids);
    if (back !== null && back !== text.normalize("NFC") && back !== text) {
      throw new Error(`${name}: decode(encode(${JSON.stringify(text)})) = ${JSON.stringify(back)}`);
    }
    return { text, ids };
  });
  const body = JSON.stringify({ source, cases }, null, 1)
    // one case per line pair keeps diffs readable; ids stay on one line
    .replace(/\[\n\s+(\d+(?:,\n\s+\d+)*)\n\s+\]/g, (_, ids) => "[" + ids.replace(/\s+/g, "") + "]");
  writeFileSync(join(outDir, `${name}.golden.json`), body + "\n");
  console.log(`${name}: ${cases.length} cases`);
}

// --- GPT-NeoX-20B tokenizer.json through @huggingface/tokenizers ---
{
  const path = join(shared, "tokenizers", "gpt-neox-20b", "tokenizer.json");
  const raw = readFileSync(path);
  const tok = new Tokenizer(JSON.parse(raw.toString("utf8")), {});
  write(
    "gpt-neox-20b",
    `@huggingface/tokenizers ${version("@huggingface/tokenizers")} (node ${process.version}), ` +
      `Tokenizer.encode(text, {add_special_tokens: false}); added tokens in the text ` +
      `(<|endoftext|>, assistant, RWKV, space runs) are matched as HF tokenizers does; ` +
      `input tokenizers/gpt-neox-20b/tokenizer.json sha256 ${sha256(raw)}`,
    (text) => tok.encode(text, { add_special_tokens: false }).ids,
    (ids) => (ids.length === 0 ? null : tok.decode(ids, { clean_up_tokenization_spaces: false })),
  );
}

// --- Llama-3 tiktoken ranks through js-tiktoken ---
{
  const path = join(shared, "tokenizers", "llama3", "tokenizer.model");
  const raw = readFileSync(path);
  const lines = raw.toString("utf8").split("\n").filter((l) => l.length > 0);
  const tokens = lines.map((line, i) => {
    const [b64, rank] = line.split(" ");
    if (Number(rank) !== i) throw new Error(`rank ${rank} on line ${i + 1}: ranks must be contiguous`);
    return b64;
  });
  // Special tokens as meta-llama/llama3 llama/tokenizer.py defines them.
  const names = [
    "<|begin_of_text|>", "<|end_of_text|>",
    "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
    "<|reserved_special_token_2|>", "<|reserved_special_token_3|>",
    "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>",
  ];
  for (let i = 5; i < 256 - 5; i++) names.push(`<|reserved_special_token_${i}|>`);
  const special = Object.fromEntries(names.map((n, i) => [n, tokens.length + i]));
  // Node 20's RegExp lacks the (?i:...) modifier group; spell the
  // case-insensitive contractions out with their simple case folds
  // (U+017F folds to s, as in Oniguruma and Rust's regex).
  const llama3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  const pat = llama3.replace(
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)",
    "'(?:[sS\u017f]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])",
  );
  const enc = new Tiktoken({ pat_str: pat, special_tokens: special, bpe_ranks: "! 0 " + tokens.join(" ") });
  write(
    "llama3",
    `js-tiktoken ${version("js-tiktoken")} (node ${process.version}), encode(text, "all") with the ` +
      `Llama-3 pattern and the 256 special tokens of meta-llama/llama3 llama/tokenizer.py ` +
      `(special-token strings in the text become their ids, as in HF tokenizers; Meta's ` +
      `encode() default would treat them as text); no BOS; input tokenizers/llama3/tokenizer.model sha256 ${sha256(raw)}`,
    (text) => enc.encode(text, "all"),
    (ids) => enc.decode(ids),
  );
}
