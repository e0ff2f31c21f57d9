#!/usr/bin/env python3
"""Regenerates TestResources/embeddings/: varied texts and their reference token ids and vectors,
computed by ../shared/tools/minilm_ref.py (HF tokenizers + a float64 numpy forward pass).

  pip install numpy tokenizers safetensors
  python3 scripts/make-embedding-fixtures.py --model-dir models/all-MiniLM-L6-v2
"""
import argparse, json, os, subprocess, sys
import numpy as np

EDGE = [
    ".", " ", "   \t\n  ", "", "a", "Hello world!", "HELLO WORLD", "hello, world... (again) [x] {y} <z>",
    "Café crème brûlée à la française, s'il vous plaît.", "Über die Brücke gehen wir morgen früh.",
    "¿Dónde está la estación de tren? ¡Vamos!", "Ça m'énerve — vraiment… «oui» ‹non›",
    "日本語のテキストです。東京でラーメンを食べました。", "中文测试：今天天气很好，我们去公园散步吧。",
    "한국어 텍스트도 있습니다", "Ελληνικά κείμενα με τόνους", "Русский текст с буквой ё и Ё",
    "emoji 🎸🎶 ☕️ 👩‍👩‍👧‍👦 🇫🇷 rocket🚀launch", "<p>Some <b>HTML</b> &amp; entities&nbsp;here</p>",
    "# Title\n\n* item one\n* item **two**\n\n```code block```\n[link](https://example.org/x?y=1&z=2)",
    "Visit https://framatube.org/videos/watch/9c9de5e8-0a1e-484a-b099-e80766180a6d now",
    "email me at someone@example.org or call +33 1 23 45 67 89", "C++ & C# vs. Rust_lang: 100% $5 ~3 ^2 |pipe| `tick`",
    "tab\tseparated\tvalues and\r\nwindows newlines", "zero\u200bwidth\u200cjoiners\u200d and soft\u00adhyphen",
    "control\u0001chars\u0007here\u001f", "replacement \ufffd char", "private use \ue000 char",
    "ligatures ﬁ ﬂ and fullwidth ＡＢＣ １２３", "İstanbul ıi DŽ ǅ ß ẞ", "naïve coöperate résumé",
    "supercalifragilisticexpialidocious antidisestablishmentarianism", "a" * 150, "x" * 99 + " " + "y" * 101,
    "Ünïcödé ÀÉÎÕÜ ñ ç ø å æ œ", "Mathematical 𝐀𝐁𝐂 𝔸𝔹ℂ ∑∫√∞ ≤≥≠", "numbers 3.14159 1,000,000 2026-11-24 12:30",
    "hashtags #peertube #fediverse @user@instance.social", "ALL CAPS SHOUTING TITLE !!!",
    "mixed日本語and English混在text", "tokens per word: unbelievably unconstitutionally",
]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default="models/all-MiniLM-L6-v2")
    ap.add_argument("--out", default="TestResources/embeddings")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tools = os.path.join(root, "..", "shared", "tools")
    gen = subprocess.run([sys.executable, os.path.join(tools, "gen_texts.py"), "-n", "220", "--seed", "77"],
                         check=True, capture_output=True, text=True).stdout
    texts = EDGE + json.loads(gen)
    long_base = json.loads(gen)[:6]
    texts += [" ".join(long_base) * 3, ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 60).strip()]
    texts += ["\n".join([t.split("\n")[0], t.upper()]) for t in json.loads(gen)[:30]]
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "texts.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=False, indent=0)
    ref = os.path.join(tools, "minilm_ref.py")
    subprocess.run([sys.executable, ref, path, "--model-dir", args.model_dir, "--tokens",
                    "-o", os.path.join(args.out, "ref-token-ids.json")], check=True)
    vec_npy = os.path.join(args.out, "ref-vectors.npy")
    subprocess.run([sys.executable, ref, path, "--model-dir", args.model_dir, "-o", vec_npy], check=True)
    vectors = np.load(vec_npy).astype("<f4")
    vectors.tofile(os.path.join(args.out, "ref-vectors.f32"))  # raw little-endian float32, rows of 384
    os.remove(vec_npy)
    print(f"{len(texts)} texts, vectors {vectors.shape}")

main()
