// Loads tokenizer.json files written by `ttq import --tokenizer` into
// @huggingface/tokenizers (the JavaScript port of Hugging Face tokenizers)
// and checks that they encode the shared samples to the ids of the original
// implementations: python3-sentencepiece for the SentencePiece models
// (llama2, tok512) and js-tiktoken for Llama-3. This shows the converted files
// load in Hugging Face's own tokenizer code and mean the same there. Dev-only;
// it writes testdata/tokenizer/converted-hfjs.json, which a Go test reads.
//
//   make build && for t in llama2 tok512 llama3; do ...; done   (see README.md)
//   node check_converted.mjs DIR_llama2 DIR_tok512 DIR_llama3
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { Tokenizer } from "@huggingface/tokenizers";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..", "..");
const outDir = join(root, "testdata", "tokenizer");
const [llama2Dir, tok512Dir, llama3Dir] = process.argv.slice(2);
const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
const version = JSON.parse(readFileSync(join(here, "node_modules", "@huggingface/tokenizers", "package.json"), "utf8")).version;

const results = [];
for (const [name, dir] of [["llama2", llama2Dir], ["tok512", tok512Dir], ["llama3", llama3Dir]]) {
  const raw = readFileSync(join(dir, "tokenizer.json"));
  const cfg = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const tok = new Tokenizer(JSON.parse(raw.toString("utf8")), cfg);
  const golden = JSON.parse(readFileSync(join(outDir, `${name}.golden.json`), "utf8"));
  let agree = 0;
  const mismatches = [];
  for (const c of golden.cases) {
    const ids = tok.encode(c.text, { add_special_tokens: false }).ids;
    if (JSON.stringify(ids) === JSON.stringify(c.ids)) agree++;
    else mismatches.push({ text: c.text, want: c.ids, got: ids });
  }
  const withSpecial = tok.encode("Hello world", { add_special_tokens: true }).ids;
  results.push({
    name,
    tokenizer_json_sha256: sha256(raw),
    cases: golden.cases.length,
    agree,
    mismatches,
    hello_world_with_special_tokens: withSpecial,
  });
  console.log(`${name}: ${agree}/${golden.cases.length} agree with ${golden.source.split(",")[0]}`);
}
writeFileSync(
  join(outDir, "converted-hfjs.json"),
  JSON.stringify({ source: `@huggingface/tokenizers ${version} (node ${process.version}) on ttq-converted tokenizer.json`, results }, null, 1) + "\n",
);
