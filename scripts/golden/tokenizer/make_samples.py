#!/usr/bin/env python3
"""Writes testdata/tokenizer/samples.json, the shared input texts of the
tokenizer goldens. Dev-only; the output is committed and CI never runs this.

Usage (from the repository root): python3 scripts/golden/tokenizer/make_samples.py
"""
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SHARED = os.environ.get("TTQ_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))

# Line 623 of WikiText-2 raw test (CC BY-SA 3.0): a 1928-character paragraph
# about ship turrets, kept verbatim with its leading space and newline.
WIKI_LINE = 623

SAMPLES = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure you're right, it's what we'd've done; they'll see.",
    "I'M SURE YOU'RE RIGHT, IT'S WHAT WE'D DONE. DON'T! THEY'LL SEE. I'VE GOT IT",
    "She said 'hello' and he said ''quoted'' then 's",
    "0 1 12 123 1234 12345 123456 1234567 12345678901234567890",
    "3.14159 2,718 1e-9 0x1F -42 +7 1/2 50% $19.99 v1.2.3",
    "a  b   c    d     e      f",
    "tab\tseparated\t\tvalues\t",
    "line one\nline two\n\nline four\n",
    "windows\r\nline\r\n\r\nend",
    "trailing spaces   ",
    "   leading spaces",
    "mixed \t \n \r\n  whitespace\n\n\n   x",
    "func main() {\n\tfmt.Println(\"hello, world\")\n\tfor i := 0; i < 10; i++ {\n\t\tx += i * 2\n\t}\n}\n",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "Wait... what?!?! (really) [yes] {no} <maybe> --- *** ~~~ ''' \"\"\" ;;",
    "email@example.com https://example.org/path?q=1&r=2#frag",
    "café naïve résumé coöperate Zürich São Paulo",
    "cafe\u0301 nai\u0308ve A\u030angstro\u0308m",
    "Привет, мир! Как дела?",
    "Γειά σου Κόσμε· αβγδ ΑΒΓΔ",
    "I love 🍕 and 🎉!! 👍🏽",
    "family: 👨\u200d👩\u200d👧\u200d👦, flag: 🏳\ufe0f\u200d🌈, coder: 🧑\u200d💻",
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。",
    "東京タワーは333メートルです。 カタカナ ひらがな",
    "我爱自然语言处理。今天天气很好！",
    "안녕하세요 세계",
    "non\u00a0breaking\u00a0space and ideographic\u3000space",
    "x  \n  y",
    "x" + " " * 30 + "y\n" + " " * 25 + "z",
    "<|endoftext|>",
    "<|begin_of_text|>",
    "<s>",
    "Hello<|endoftext|>World <|endoftext|> again",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>",
    "The assistant's assistantship; RWKV-4 and myRWKV",
    "",
    "ALL CAPS SENTENCE WITH NUMBERS 2024 AND SYMBOLS #@!",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
]


def main():
    path = os.path.join(SHARED, "wikitext-2-raw", "wiki.test.raw")
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    para = lines[WIKI_LINE - 1] + "\n"
    samples = SAMPLES + [para, para.strip()]
    for s in samples:
        # JavaScript's \s (used by both JS goldens) differs from Oniguruma's
        # on exactly these two code points; keep them out of the samples.
        if "\u0085" in s or "\ufeff" in s:
            sys.exit("sample contains U+0085 or U+FEFF")
    out = os.path.join(ROOT, "testdata", "tokenizer", "samples.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(samples, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(samples)} samples to {out}")


if __name__ == "__main__":
    main()
