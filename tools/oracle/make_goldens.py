#!/usr/bin/env python3
"""Writes tests/golden/ with llama.cpp as the oracle (see tests/golden/README.md, tools/oracle/README.md).

Run inside the oracle environment that tools/oracle/build_llama_cpp.sh prepares:

    tools/oracle/build_llama_cpp.sh
    source build/oracle/env.sh
    python tools/oracle/make_goldens.py --model /path/to/SmolLM2-135M-Instruct.Q4_1.gguf
    python tools/oracle/make_goldens.py --logits          # also logits/ (needs build/bin/enclave-synth)
    python tools/oracle/make_goldens.py --only strings,vocab,tokenize,chat,generate,logits

Everything is deterministic: the same script, llama.cpp and model give byte-identical files.
Nothing here reads the network or the clock.
"""
from __future__ import annotations

import argparse
import base64
import collections
import ctypes
import heapq
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

# ==================================================================================================
# small utilities
# ==================================================================================================

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
_fnv_lib = None


def _load_fnv_helper():
    """FNV-1a over ~100 MB is too slow in pure Python: compile a 10-line C helper once (cc is there,
    llama.cpp was just built with it); fall back to Python if that fails."""
    global _fnv_lib
    if _fnv_lib is not None:
        return _fnv_lib or None
    out_dir = Path(os.environ.get("ORACLE_DIR", ROOT / "build" / "oracle"))
    so = out_dir / "fnv1a64.so"
    src = (
        "#include <stdint.h>\n#include <stddef.h>\n"
        "uint64_t fnv1a64(const unsigned char *p, size_t n, uint64_t h) {\n"
        "  for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001b3ULL; }\n  return h;\n}\n"
    )
    try:
        if not so.exists():
            out_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory() as td:
                c = Path(td) / "fnv.c"
                c.write_text(src)
                subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(so), str(c)], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lib = ctypes.CDLL(str(so))
        lib.fnv1a64.restype = ctypes.c_uint64
        lib.fnv1a64.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
        _fnv_lib = lib
    except Exception:  # noqa: BLE001 - any failure: pure Python
        _fnv_lib = False
    return _fnv_lib or None


def fnv1a64_bytes(data: bytes, h: int = FNV_OFFSET) -> int:
    lib = _load_fnv_helper()
    if lib is not None:
        return lib.fnv1a64(data, len(data), h)
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def fingerprint(path: Path) -> str:
    h = FNV_OFFSET
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 24)
            if not chunk:
                break
            h = fnv1a64_bytes(chunk, h)
    return f"{h:016x}"


def _fmt(v, ind: int) -> str:
    """JSON with one line per case: containers of containers are split, flat lists stay on a line."""
    pad, pad2 = " " * ind, " " * (ind + 1)
    if isinstance(v, dict) and v and any(isinstance(x, (dict, list)) and x and
                                         any(isinstance(y, (dict, list)) for y in (x.values() if isinstance(x, dict) else x))
                                         for x in v.values()):
        items = [f"{pad2}{json.dumps(k, ensure_ascii=False)}: {_fmt(x, ind + 1)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(v, list) and v and all(isinstance(x, (dict, list)) for x in v):
        return "[\n" + ",\n".join(pad2 + _fmt(x, ind + 1) for x in v) + "\n" + pad + "]"
    return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = _fmt(obj, 0) + "\n"
    json.loads(text)  # round-trip check
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"  wrote {shown} ({path.stat().st_size:,} bytes)")


def is_valid_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


# ==================================================================================================
# 1. test strings
# ==================================================================================================

EN_SENTENCES = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "Hello world",
    " Hello world",
    "hello world",
    "HELLO WORLD",
    "Hello World!",
    "This is a test.",
    "I can't believe it's not butter!",
    "She sells sea shells by the sea shore.",
    "What is the capital of France?",
    "The capital of France is Paris.",
    "Please summarize the following article in three sentences.",
    "Large language models predict the next token given the previous ones.",
    "On-premises inference keeps sensitive data inside the building.",
    "Mr. Smith arrived at 3 p.m. on Jan. 5th, didn't he?",
    "e.g. i.e. etc. vs. Dr. St. Mt.",
    "Well... that was unexpected!?",
    "To be, or not to be, that is the question:",
    "All human beings are born free and equal in dignity and rights.",
    "It was the best of times, it was the worst of times.",
    "Call me Ishmael.",
    "In the beginning God created the heaven and the earth.",
    "A journey of a thousand miles begins with a single step.",
    "The GPU's temperature rose to 83°C under load.",
    "Email me at john.doe+test@example.com or visit https://example.com/path?q=1&r=2#frag.",
    "C:\\Users\\admin\\Documents\\report.docx",
    "/usr/local/bin/enclave-engine --threads 8 --ctx-size 4096",
    "The ratio was 3:2, not 2:3; see Fig. 4(b).",
    "Price: $1,299.99 (incl. 20% VAT) — limited offer!",
    "\"Quoted text\" and 'single quotes' and `backticks`.",
    "Semicolons; colons: dashes - en–dash — em—dash.",
    "#hashtag @mention $TICKER %percent ^caret &amp *star",
    "(parentheses) [brackets] {braces} <angles>",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt.",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "The word 'tokenization' is tokenized differently by different tokenizers.",
    "ThisIsCamelCase and this_is_snake_case and kebab-case-words",
    "UPPERCASE lowercase MiXeD cAsE",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "A B C D E F G H I J K L M N O P Q R S T U V W X Y Z",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "abababababababababababab",
    "Yes.",
    "No!",
    "OK",
    "a",
    "I",
    ".",
    "?",
    "The end.",
    "# Title\n\n## Subtitle\n\n- item one\n- item two\n\n**bold** and _italic_ and `code`.",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "> quoted line\n> another quoted line",
    "1. first\n2. second\n3. third",
    "Dear Sir or Madam,\n\nI am writing to inform you that the server will be down.\n\nBest regards,\nAdmin",
    "Q: What is 2+2?\nA: 4",
    "User: hi\nAssistant: hello! How can I help?",
]

EN_SUBJECTS = ["The engineer", "A small cat", "My neighbour", "The new model", "Every student", "Our team",
               "The old server", "A curious child", "The committee", "This function", "The auditor", "Nobody"]
EN_VERBS = ["quickly reviewed", "carefully wrote", "never forgot", "suddenly deleted", "happily shared",
            "slowly optimized", "quietly tested", "proudly presented", "accidentally broke", "finally fixed"]
EN_OBJECTS = ["the quarterly report", "a long poem about the sea", "three failing unit tests",
              "the GPU memory allocator", "an old photograph", "the tokenizer's merge table",
              "twelve red apples", "the access log", "a cup of green tea", "the meeting notes"]
EN_TAILS = [".", "!", "?", " yesterday.", " before lunch.", " again and again.", ", didn't they?",
            " in 2024.", " without asking anyone.", "; nobody noticed."]

ZH_SENTENCES = [
    "你好，世界！",
    "你好世界",
    "今天天气很好，我们去公园散步吧。",
    "人工智能正在改变我们的生活方式。",
    "我爱北京天安门。",
    "这是一个测试句子。",
    "大型语言模型可以生成流畅的文本。",
    "请把这段话翻译成英文。",
    "中华人民共和国成立于1949年10月1日。",
    "机器学习、深度学习和强化学习是人工智能的重要分支。",
    "他说：“我明天会来。”",
    "《红楼梦》是中国古典四大名著之一。",
    "数据必须留在本地，不能离开大楼。",
    "服务器的温度达到了八十三摄氏度。",
    "请问，洗手间在哪里？",
    "一二三四五六七八九十",
    "零壹贰叁肆伍陆柒捌玖拾佰仟万亿",
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
    "学而时习之，不亦说乎？有朋自远方来，不亦乐乎？",
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",
    "我们的系统支持流式输出和思考过程的显示。",
    "管理员可以部署、加载和卸载模型。",
    "审计员只能查看和导出审计日志。",
    "简体中文和繁體中文都需要支持。",
    "臺灣、香港、澳門使用繁體字。",
    "这个价格是￥1,299.00元，含税。",
    "第一章　总则",
    "（一）括号内的内容；【方括号】；「引号」；『双引号』",
    "中文English混合Mixed文本text测试",
    "GPU显存使用率为95%，请注意。",
]
ZH_WORDS = ["我们", "今天", "模型", "数据", "服务器", "用户", "安全", "推理", "中文", "测试", "系统", "学习",
            "时间", "问题", "答案", "世界", "朋友", "工作", "电脑", "网络", "文件", "日志", "温度", "内存"]
ZH_PUNCT = ["，", "。", "！", "？", "、", "；", "：", ""]

JA_KO = [
    ("japanese", "こんにちは世界"),
    ("japanese", "今日はいい天気ですね。"),
    ("japanese", "日本語の文章をトークン化します。"),
    ("japanese", "カタカナとひらがなと漢字が混ざっています。"),
    ("japanese", "東京都渋谷区"),
    ("japanese", "ありがとうございます！"),
    ("japanese", "すみません、駅はどこですか？"),
    ("japanese", "吾輩は猫である。名前はまだ無い。"),
    ("japanese", "ｶﾀｶﾅ半角とカタカナ全角"),
    ("japanese", "コンピューター・サイエンス"),
    ("japanese", "私はエンジニアです。よろしくお願いします。"),
    ("japanese", "ー〜・「」『』【】"),
    ("korean", "안녕하세요 세계"),
    ("korean", "오늘 날씨가 좋네요."),
    ("korean", "한국어 문장을 토큰화합니다."),
    ("korean", "감사합니다!"),
    ("korean", "대한민국 서울특별시"),
    ("korean", "저는 엔지니어입니다."),
    ("korean", "인공지능은 우리의 삶을 바꾸고 있습니다."),
    ("korean", "ㄱㄴㄷㄹㅁㅂㅅ ㅏㅑㅓㅕ"),
    ("korean", "한글 Hangul 混合"),
    ("korean", "\u1112\u1161\u11ab\u1100\u1173\u11af"),  # conjoining jamo (NFD Hangul)
]

RTL_INDIC = [
    ("arabic", "مرحبا بالعالم"),
    ("arabic", "السلام عليكم ورحمة الله وبركاته"),
    ("arabic", "اللغة العربية جميلة جداً."),
    ("arabic", "العدد ١٢٣٤٥٦٧٨٩٠ بالأرقام العربية الشرقية"),
    ("arabic", "هل تتكلم الإنجليزية؟"),
    ("arabic", "كَتَبَ الطَّالِبُ الدَّرْسَ"),
    ("arabic", "فارسی: سلام دنیا"),
    ("arabic", "اردو: ہیلو دنیا"),
    ("hebrew", "שלום עולם"),
    ("hebrew", "עברית היא שפה שמית."),
    ("hebrew", "בְּרֵאשִׁית בָּרָא אֱלֹהִים"),
    ("hebrew", "מספר 42 בטקסט עברי"),
    ("devanagari", "नमस्ते दुनिया"),
    ("devanagari", "हिन्दी भारत की एक भाषा है।"),
    ("devanagari", "संस्कृतम् एका प्राचीना भाषा अस्ति।"),
    ("devanagari", "क्षत्रिय ज्ञान श्री त्र"),
    ("devanagari", "१२३४५६७८९०"),
    ("thai", "สวัสดีชาวโลก"),
    ("thai", "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ"),
    ("thai", "ขอบคุณครับ"),
    ("thai", "๑๒๓๔๕"),
    ("indic", "வணக்கம் உலகம்"),
    ("indic", "হ্যালো বিশ্ব"),
    ("indic", "ਸਤ ਸ੍ਰੀ ਅਕਾਲ"),
    ("indic", "నమస్కారం ప్రపంచం"),
    ("indic", "ಕನ್ನಡ ಭಾಷೆ"),
    ("indic", "ഹലോ വേൾഡ്"),
    ("other-script", "Привет, мир! Как дела?"),
    ("other-script", "Γειά σου Κόσμε"),
    ("other-script", "Բարեւ աշխարհ"),
    ("other-script", "გამარჯობა მსოფლიო"),
    ("other-script", "ሰላም ልዑል"),
    ("other-script", "ᚠᚢᚦᚨᚱᚲ"),
    ("other-script", "Сәлем әлем"),
    ("other-script", "Xin chào thế giới"),
    ("rtl", "\u202eevil reversed text\u202c"),
    ("rtl", "abc \u200fשלום\u200f def"),
    ("rtl", "\u2067مرحبا\u2069 mixed bidi"),
]

ACCENTS = [
    "café", "cafe\u0301", "naïve", "nai\u0308ve", "Ångström", "A\u030angstro\u0308m", "\u212bngstr\u00f6m",
    "résumé", "Crème brûlée", "jalapeño", "São Paulo", "Zürich", "Øresund", "Łódź", "Dvořák", "İstanbul ıi",
    "Straße STRASSE ẞ", "ﬁnance ﬂow ﬀ", "Æsir œuvre", "Tiếng Việt có dấu", "ð þ", "ǅ ǈ ǋ",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034da\u036b\u0357\u036f",
    "e\u0301\u0302\u0303\u0304\u0305", "\u0301 leading combining", "x\u20dd", "a\u0338", "1\u20e3",
    "ℌ𝔢𝔩𝔩𝔬 𝕎𝕠𝕣𝕝𝕕", "𝐁𝐨𝐥𝐝 𝑰𝒕𝒂𝒍𝒊𝒄", "ｆｕｌｌｗｉｄｔｈ ＡＳＣＩＩ", "№ ™ ℃ ℉ ㎏ ㎞",
    "½ ¼ ¾ ⅓ ⅔", "x² + y³ = z⁴", "H₂O CO₂", "∀x∈ℝ: x²≥0", "α β γ δ ε ∑ ∏ ∫ √ ∞ ≠ ≈ ≤ ≥",
    "→ ← ↑ ↓ ⇒ ⇔", "© ® § ¶ † ‡ • …", "€ £ ¥ ₹ ₽ ₿ ¢", "♠ ♣ ♥ ♦ ♪ ♫", "☀ ☁ ☂ ☃ ★ ☆",
    "┌─┬─┐\n│a│b│\n└─┴─┘", "⠓⠑⠇⠇⠕ braille",
]

EMOJI = [
    "😀", "😂", "🤣", "❤", "❤️", "👍", "👍🏻", "👍🏽", "👍🏿", "🙏🏾", "👋🏼", "🔥", "🎉", "🚀", "✅", "❌", "⚠️",
    "👨‍👩‍👧‍👦", "👩‍💻", "👩🏽‍💻", "🧑‍🚀", "👨‍❤️‍👨", "🏳️‍🌈", "🏴‍☠️", "❤️‍🔥", "🧔‍♂️", "🏃‍♀️‍➡️",
    "🇺🇸", "🇨🇳", "🇯🇵", "🇩🇪", "🇬🇧", "🇫🇷", "🇺🇸🇨🇳🇯🇵", "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
    "1️⃣ 2️⃣ #️⃣ *️⃣", "©️ ®️ ™️", "I ❤️ NY", "Great job! 👏👏👏", "😀😃😄😁😆😅",
    "The rocket 🚀 launched at dawn 🌅.", "emoji👍glued", "🤖 robots and 🧠 brains",
    "☕ coffee", "🍕🍔🍟🌭", "👁️‍🗨️", "🫠🫡🫶", "🦀 Rust 🐍 Python 🐹 Go", "✨✨✨", "⭐️⭐",
    "\U0001f600\ufe0f", "🏻 lone modifier", "\u200d lone zwj \u200d", "😀\u200d😀", "🇺 lone indicator",
]

WHITESPACE = [
    " ", "  ", "   ", "    ", "        ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n", "\r",
    " \n", "\n ", " \t\n", "\t \t", " \n \n ", "\u00a0", "\u3000", "\u2003", "\u2009", "\u200b",
    "\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\ufeff",
    "a  b", "a   b", "a    b", "a\tb", "a\t\tb", "a\nb", "a\n\nb", "a\r\nb", "a \nb", "a\n b",
    "trailing ", "trailing   ", "trailing\t", "trailing\n", " leading", "   leading", "\tleading",
    "\nleading", " both ", "  both  ", "a\u00a0b", "a \u00a0 b", "100\u00a0km", "日本\u3000語",
    "a\u2003b", "zero\u200bwidth", "word\ufeffbom", "\ufeffstarts with BOM",
    "line one\nline two\nline three", "line one\r\nline two\r\nline three\r\n",
    "para one\n\n\npara two", "    indented four", "\tindented tab", "  \t  mixed indent",
    "ends with spaces and newline   \n", "x\n\n\n\n\n\n\n\ny", "x" + " " * 20 + "y", "\n" * 12,
    " " * 33, "\t" * 9, " \u00a0 \u3000 \t ", "spaces   before\nnewline", "a \n\n b",
]

CONTRACTIONS = [
    "I'm", "you're", "it's", "don't", "won't", "can't", "we've", "they'll", "he'd", "she'd've",
    "I'M", "YOU'RE", "IT'S", "DON'T", "WE'VE", "THEY'LL", "HE'D", "It'S", "DoN't", "wE'Ve",
    "I'm sure you're right, it's what we'd've done.",
    "I'M SURE YOU'RE RIGHT, IT'S WHAT WE'D'VE DONE.",
    "the dog's bone", "the dogs' bones", "James's car", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d",
    "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D", "don’t", "it’s", "I’m", "rock'n'roll", "'tis",
    "O'Brien", "y'all", "ma'am", "'quoted'", "''", "'", "it 's", "don 't", "l'homme d'affaires",
    "c'est la vie", "we're'll", "x's y't z're", "1990's", "it'sn't",
]

SPECIAL_TOKENS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<unk>", "<pad>",
                  "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>",
                  "<|end_header_id|>", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>",
                  "<｜Assistant｜>", "<think>", "</think>", "[INST]", "[/INST]", "<|user|>", "<<SYS>>"]
SPECIAL_STRINGS = [
    "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "<｜begin▁of▁sentence｜>You are helpful.<｜User｜>1+1=?<｜Assistant｜><think>\nEasy.\n</think>\n\n2<｜end▁of▁sentence｜>",
    "<s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nhi [/INST] hello </s>",
    "<|im_sta", "<|im_start|", "im_start|>", "<|im_start", "|im_start|>", "<|im_", "<|", "|>", "<|>", "<||>",
    "hello<|im_start|>world", "<|im_start|>hello", "hello<|im_end|>", "x<|endoftext|>y", "<|endoftext|><|endoftext|>",
    "<|im_start|><|im_end|>", "<<|im_start|>>", " <|im_start|> ", "<|IM_START|>", "<| im_start |>",
    "<|im_start||>", "<|im_start|>\n", "\n<|im_end|>", "<s><s></s></s>", "<s>hello</s>", "< s >", "<S>",
    "text</s>more", "<think>reasoning</think>answer", "<think>\n\n</think>\n\n", "</think>", "<think",
    "<|begin_of_text|>", "<|begin_of_text|", "begin_of_text", "<|eot_id|><|eot_id|>",
    "<｜User｜>", "<｜User｜", "<|User|>", "<｜Assistant｜>你好", "<｜begin▁of▁sentence｜>",
    "<unk>", "<unk", "<0x41>", "<0x0A>", "<0xFF>", "[INST]hi[/INST]", "<|user|>hi", "<mask>",
    "&lt;|im_start|&gt;", "\\<|im_start|\\>", "<|im_start|>" * 3,
]

INVALID_UTF8 = [
    b"\x80", b"\xbf", b"\x80\x80\x80", b"abc\x80def", b"\xc3", b"\xc3 ", b"a\xc3", b"\xe4\xbd", b"\xe4\xbd!",
    b"\xf0\x9f\x98", b"\xf0\x9f\x98 ok", b"\xf0\x9f", b"\xf0", b"\xc0\xaf", b"\xc0\x80", b"\xc1\xbf",
    b"\xe0\x80\xaf", b"\xe0\x9f\xbf", b"\xf0\x80\x80\xaf", b"\xf0\x8f\xbf\xbf", b"\xff", b"\xfe", b"\xff\xfe",
    b"\xfe\xff", b"\xff\xff\xff\xff", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xa0\xbd\xed\xb8\x80",
    b"\xed\xb0\x80", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf7\xbf\xbf\xbf", b"\xf8\x88\x80\x80\x80",
    b"\xfc\x84\x80\x80\x80\x80", "你好".encode() + b"\xe4", "你好".encode()[:-1], "😀".encode()[:3] + b"x",
    b"hello \x80 world", b"\xc3\x28", b"\xa0\xa1", b"\xe2\x28\xa1", b"\xe2\x82\x28", b"\xf0\x28\x8c\xbc",
    b"\xf0\x90\x28\xbc", b"\xf0\x28\x8c\x28", b"Caf\xe9", b"na\xefve", b"\x93smart quotes\x94",
    b"<|im_start|>\x80<|im_end|>", b"\x80<|im_start|>", b"\n\x80\n", b"  \xff  ", b"123\xff456",
    b"\xe6\x97\xa5\xe6\x9c", b"\xe6\x97\xa5\xe6\x9c\xac\xe8", b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce",
]

PY_SNIPPETS = [
    'def hello():\n    print("Hello, world!")\n',
    'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n    return a + b\n',
    "import os\nimport sys\n\nif __name__ == \"__main__\":\n    sys.exit(main(sys.argv[1:]))\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, x):\n        self.items.append(x)\n\n    def pop(self):\n        return self.items.pop()\n",
    "for i in range(10):\n\tif i % 2 == 0:\n\t\tprint(i)\n\telse:\n\t\tcontinue\n",
    "squares = [x ** 2 for x in range(100) if x % 3 == 0]\n",
    "with open('data.txt', 'r', encoding='utf-8') as f:\n    lines = [l.rstrip('\\n') for l in f]\n",
    "try:\n    value = int(text)\nexcept ValueError as e:\n    log.error(f\"bad value {text!r}: {e}\")\n    raise\n",
    "@dataclass(frozen=True)\nclass Point:\n    x: float = 0.0\n    y: float = 0.0\n",
    "async def fetch(session, url):\n    async with session.get(url) as r:\n        return await r.json()\n",
    "lambda x, y=2, *args, **kwargs: (x, y, args, kwargs)",
    "print('a' * 80)\nprint(\"tab\\there\")\nprint(r'raw\\string')\n",
    "x = {'key': [1, 2, 3], \"other\": (4, 5), 'nested': {'a': None, 'b': True}}\n",
    "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
    "    # comment with trailing spaces   \n    pass\n",
]
CPP_SNIPPETS = [
    "#include <iostream>\n\nint main() {\n    std::cout << \"Hello, world!\" << std::endl;\n    return 0;\n}\n",
    "template <typename T>\nT max(const T& a, const T& b) {\n\treturn a < b ? b : a;\n}\n",
    "std::vector<std::string> v{\"a\", \"b\"};\nfor (const auto& s : v) {\n    std::println(\"{}\", s);\n}\n",
    "struct Point { float x = 0.f, y = 0.f; };\nconstexpr int kMax = 1 << 20;\n",
    "namespace enclave::core {\nclass Tokenizer final : public ITokenizer {\npublic:\n  explicit Tokenizer(const Vocab& v);\n  ~Tokenizer() override = default;\n};\n}  // namespace enclave::core\n",
    "int* p = nullptr;\nif (p != nullptr && *p >= 0) { ++(*p); }\n",
    "auto lambda = [&](int x) -> int { return x * 2; };\n",
    "/* block\n * comment\n */\n// line comment\n",
    "#define SQUARE(x) ((x) * (x))\n#ifdef __AVX2__\n#  include <immintrin.h>\n#endif\n",
    "__global__ void add(const float* __restrict__ a, float* out, int n) {\n\tint i = blockIdx.x * blockDim.x + threadIdx.x;\n\tif (i < n) out[i] += a[i];\n}\n",
    "std::unique_ptr<Model> m = std::make_unique<Model>(cfg);\nstd::map<int, std::pair<char, double>> table;\n",
    "uint64_t h = 0xcbf29ce484222325ULL;\nfor (auto b : bytes) { h ^= b; h *= 0x100000001b3ULL; }\n",
]
JSON_SNIPPETS = [
    '{"name": "enclave", "version": "1.0.0", "private": true}',
    '{\n  "model": "smollm2",\n  "messages": [\n    {"role": "user", "content": "Hi"}\n  ],\n  "temperature": 0.7\n}',
    '[1, 2, 3, 4.5, -6, 1e10, null, true, false, "str"]',
    '{"a":{"b":{"c":{"d":[]}}}}',
    '{\n\t"tabs": "indented",\n\t"unicode": "\\u00e9\\u4e2d",\n\t"escaped": "line\\nbreak \\"quote\\""\n}',
    '{"id": "chatcmpl-123", "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "stop"}]}',
    '{}', '[]', '""', '{"emoji": "😀", "zh": "中文"}',
]
SHELL_SNIPPETS = [
    "#!/usr/bin/env bash\nset -euo pipefail\n",
    "for f in *.txt; do\n\techo \"$f\"\ndone\n",
    "cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2\n",
    "export PATH=\"$HOME/.local/bin:$PATH\"\n",
    "ls -la | grep -v '^d' | awk '{print $9}' | sort -u > files.txt 2>&1\n",
    "if [[ -z \"${VAR:-}\" ]]; then\n  echo 'unset' >&2\n  exit 1\nfi\n",
    "curl -s http://127.0.0.1:8080/v1/models | jq '.data[].id'\n",
    "sudo apt-get install -y cmake ninja-build g++ python3-venv\n",
    "echo $((1 + 2)) ${#arr[@]} $@ $? $$\n",
    "git log --oneline -n 5 && git diff HEAD~1 -- src/\n",
]
OTHER_CODE = [
    "fn main() {\n    let v: Vec<u32> = (0..10).collect();\n    println!(\"{:?}\", v);\n}\n",
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hello\")\n}\n",
    "SELECT id, name FROM users WHERE role = 'admin' AND created_at > '2024-01-01' ORDER BY id DESC;",
    "const f = async (x) => { await sleep(100); return x?.y ?? 0; };",
    "<!DOCTYPE html>\n<html>\n  <body>\n    <p class=\"x\">Hi &amp; bye</p>\n  </body>\n</html>\n",
    "public static void main(String[] args) {\n    System.out.println(\"Hello\");\n}\n",
    "SELECT COUNT(*)\n  FROM logs\n WHERE level >= 3\n GROUP BY host;\n",
    "key: value\nlist:\n  - a\n  - b\nnested:\n  inner: 42\n",
    "[section]\nname = \"value\"\nnumber = 10\n",
    "\\begin{equation}\n  E = mc^2\n\\end{equation}\n",
    "(defun square (x) (* x x))",
    "main :: IO ()\nmain = putStrLn \"Hello\"\n",
]


def _numbers(rng: random.Random) -> list[str]:
    out = []
    for n in range(1, 41):
        for _ in range(3 if n <= 12 else 1):
            first = rng.choice("123456789")
            out.append(first + "".join(rng.choice("0123456789") for _ in range(n - 1)))
    out += ["0", "00", "000", "0000", "007", "0.5", "3.14159265358979", "-42", "+42", "-0.001", "1e10", "6.022e23",
            "1E-9", "0x1F", "0xDEADBEEF", "0b1010", "0o777", "1_000_000", "1,000", "1,000,000", "1,234,567.89",
            "1.234.567,89", "12 345 678", "v1.2.3", "2024-01-15", "15/01/2024", "12:34:56", "12:34:56.789",
            "+1 (555) 123-4567", "192.168.0.1", "127.0.0.1:8080", "3.", ".5", "1/2", "3/4", "50%", "100%",
            "$100", "€99.99", "¥10000", "1st 2nd 3rd 4th 11th 21st 101st", "abc123def", "123abc", "abc123",
            "a1b2c3d4", "x86_64", "H100 H200 A100", "GPT-4o", "IPv6 ::1", "2^64 = 18446744073709551616",
            "π≈3.14159", "-1.5e-3", "1,2,3,4,5", "1 2 3 4 5", "12 345", "1234 5678 9012 3456",
            "第123章", "１２３４５", "٣٤٥", "१२३", "Ⅰ Ⅱ Ⅲ Ⅳ Ⅻ", "①②③", "2024年1月15日", "三点五", "10,000元",
            "42", " 42", "  42", "42 ", "4 2", "4\t2", "4\n2", "1234567890" * 3, "9" * 64, "1" * 100,
            "The answer is 42.", "I have 3 apples and 12 oranges.", "In 1969, 3 astronauts flew 384400 km.",
            "pi = 3.14159265358979323846264338327950288", "2 + 2 = 4", "12*34=408", "100-1=99", "7/2=3.5"]
    return out


def _fuzz_unicode(rng: random.Random, n: int) -> list[str]:
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
              (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x2190, 0x22FF), (0x3000, 0x30FF),
              (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xFF00, 0xFFEF), (0x1F300, 0x1FAFF), (0x20000, 0x2A6DF),
              (0x10000, 0x1007F), (0xE000, 0xE0FF), (0x300, 0x36F), (0xFE00, 0xFE0F)]
    out = []
    for _ in range(n):
        k = rng.randint(1, 24)
        chars = []
        for _ in range(k):
            lo, hi = rng.choice(blocks)
            cp = rng.randint(lo, hi)
            if 0xD800 <= cp <= 0xDFFF:
                cp = 0x41
            chars.append(chr(cp))
            if rng.random() < 0.2:
                chars.append(" ")
        out.append("".join(chars))
    return out


def build_strings() -> list[tuple[bytes, str]]:
    rng = random.Random(20240601)
    items: list[tuple[bytes, str]] = []

    def add(kind: str, s) -> None:
        items.append((s if isinstance(s, bytes) else s.encode("utf-8"), kind))

    add("empty", "")
    for s in EN_SENTENCES:
        add("english", s)
    for _ in range(150):
        s = f"{rng.choice(EN_SUBJECTS)} {rng.choice(EN_VERBS)} {rng.choice(EN_OBJECTS)}{rng.choice(EN_TAILS)}"
        r = rng.random()
        if r < 0.1:
            s = s.upper()
        elif r < 0.2:
            s = s.lower()
        elif r < 0.3:
            s = " " + s
        add("english", s)
    for s in ZH_SENTENCES:
        add("chinese", s)
    for _ in range(60):
        parts = [rng.choice(ZH_WORDS) + rng.choice(ZH_PUNCT) for _ in range(rng.randint(2, 9))]
        add("chinese", "".join(parts))
    for kind, s in JA_KO:
        add(kind, s)
    for kind, s in RTL_INDIC:
        add(kind, s)
    for s in ACCENTS:
        add("accents", s)
        if unicodedata.normalize("NFD", s) != s:
            add("accents", unicodedata.normalize("NFD", s))
    for s in EMOJI:
        add("emoji", s)
    for s in WHITESPACE:
        add("whitespace", s)
    ws = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "   ", "\n\n"]
    words = ["alpha", "beta", "中文", "x", "42", "end", "Hello", "—", "😀", ""]
    for _ in range(60):
        add("whitespace", "".join(rng.choice(ws) + rng.choice(words) for _ in range(rng.randint(1, 6))) + rng.choice(ws + [""]))
    for s in CONTRACTIONS:
        add("contractions", s)
    for s in SPECIAL_TOKENS:
        add("special", s)
    for s in SPECIAL_STRINGS:
        add("special", s)
    glue = ["", " ", "\n", "x", "Hello", "你好", "😀", "123"]
    for _ in range(60):
        add("special", rng.choice(glue) + rng.choice(SPECIAL_TOKENS) + rng.choice(glue) + rng.choice(SPECIAL_TOKENS) + rng.choice(glue))
    for b in INVALID_UTF8:
        add("invalid-utf8", b)
    for _ in range(40):
        b = bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 40)))
        if is_valid_utf8(b):
            b += b"\xff"
        add("invalid-utf8", b)
    for s in PY_SNIPPETS:
        add("code-python", s)
        add("code-python", s.replace("    ", "\t"))
        add("code-python", s.replace("\n", "\r\n"))
    for s in CPP_SNIPPETS:
        add("code-cpp", s)
        add("code-cpp", s.replace("    ", "\t").replace("\n", "\r\n"))
        add("code-cpp", s.replace("\t", "  "))
    for s in JSON_SNIPPETS:
        add("code-json", s)
    for i in range(20):
        obj = {"id": i, "name": rng.choice(EN_OBJECTS), "tags": [rng.choice(ZH_WORDS) for _ in range(rng.randint(0, 3))],
               "score": round(rng.random() * 100, rng.randint(0, 6)), "ok": rng.random() < 0.5, "none": None}
        add("code-json", json.dumps(obj, ensure_ascii=bool(i % 2), indent=rng.choice([None, 2, 4, "\t"])))
    for s in SHELL_SNIPPETS:
        add("code-shell", s)
        add("code-shell", s.replace("\n", "\r\n"))
    for s in OTHER_CODE:
        add("code-other", s)
    for s in _numbers(rng):
        add("numbers", s)
    mix_parts = ["Hello", "世界", "مرحبا", "Привет", "こんにちは", "안녕", "שלום", "नमस्ते", "สวัสดี", "😀", "123",
                 "café", " ", "-", "_", "Γειά", "🇨🇳", "x86", "don't", "\t"]
    for _ in range(80):
        add("mixed", "".join(rng.choice(mix_parts) for _ in range(rng.randint(2, 10))))
    punct = ["!!!", "...", "?!", "—", "–", "«»", "“”", "‘’", "@#$%^&*()", "---", "===", "***", "~~~", "///",
             "\\\\", "::", ";;", ",,", "..", "?", "!", ":)", ":-(", ";-)", "<3", "->", "=>", "<=", ">=", "!=", "==",
             "&&", "||", "<<", ">>", "++", "--", "**", "//", "/*", "*/", "#!", "$$", "%%", "^^", "``", "''", "\"\"",
             "...!!!???", "。。。", "！？", "、、", "…", "‽", "¡¿", "·", "•••"]
    for s in punct:
        add("punctuation", s)
    add("control", "\x00")
    add("control", "a\x00b")
    add("control", "\x01\x02\x03\x1f")
    add("control", "\x1b[31mred\x1b[0m")
    add("control", "\x7f\x08")
    add("control", "bell\x07")
    for s in _fuzz_unicode(rng, 120):
        add("fuzz", s)
    # long strings (a few KB)
    add("long", " ".join(EN_SENTENCES[:40]) * 2)
    add("long", "".join(ZH_SENTENCES) * 2)
    add("long", "\n".join(PY_SNIPPETS + CPP_SNIPPETS) + "\n")
    add("long", "".join(rng.choice(mix_parts) for _ in range(600)))
    add("long", "a" * 3000)
    add("long", "".join(rng.choice("0123456789") for _ in range(2000)))
    add("long", " " * 1000 + "x" + "\n" * 500)
    add("long", "😀" * 500)
    add("long", "".join(_fuzz_unicode(rng, 100)))

    # de-duplicate, keeping the first occurrence
    seen, out = set(), []
    for b, kind in items:
        if b not in seen:
            seen.add(b)
            out.append((b, kind))
    for b, kind in out:
        if kind == "invalid-utf8":
            assert not is_valid_utf8(b), b
        else:
            assert is_valid_utf8(b), (kind, b)
    return out


def write_strings(strings) -> None:
    entries = []
    for b, kind in strings:
        e = {"b64": base64.b64encode(b).decode("ascii"), "kind": kind}
        entries.append(e)
    kinds = collections.Counter(k for _, k in strings)
    write_json(GOLDEN / "strings.json", {
        "generator": "tools/oracle/make_goldens.py",
        "count": len(entries),
        "kinds": dict(sorted(kinds.items())),
        "strings": entries,
    })


# ==================================================================================================
# 2. vocabularies
# ==================================================================================================

def bytes_to_unicode() -> list[tuple[int, str]]:
    """GPT-2's byte -> printable character table, in GPT-2's vocabulary order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [(b, chr(c)) for b, c in zip(bs, cs)]


BYTE_TO_CHAR = dict(bytes_to_unicode())


def learning_corpus(strings) -> list[str]:
    """The text the vocabularies are learned from: the valid test strings (without the special-token
    ones) plus generated multilingual prose and code, so that merges cover English, Chinese, code, digits."""
    rng = random.Random(7)
    texts = [b.decode("utf-8") for b, kind in strings if kind not in ("invalid-utf8", "special", "fuzz", "long", "control")]
    for _ in range(3000):
        texts.append(f"{rng.choice(EN_SUBJECTS)} {rng.choice(EN_VERBS)} {rng.choice(EN_OBJECTS)}{rng.choice(EN_TAILS)}")
    texts += EN_SENTENCES * 8
    for _ in range(1500):
        texts.append("".join(rng.choice(ZH_WORDS) + rng.choice(ZH_PUNCT) for _ in range(rng.randint(2, 8))))
    texts += ZH_SENTENCES * 6
    texts += (PY_SNIPPETS + CPP_SNIPPETS + SHELL_SNIPPETS + JSON_SNIPPETS + OTHER_CODE) * 6
    texts += [s for _, s in JA_KO] * 3 + [s for _, s in RTL_INDIC] * 3
    texts += CONTRACTIONS * 20  # upper-case contractions too, so pre-tokenizer case rules show in the ids
    for _ in range(1000):
        texts.append(str(rng.randint(0, 10 ** rng.randint(1, 6))))
    return texts


def learn_bpe(word_freqs: dict[tuple[str, ...], int], n_merges: int, forbidden: set[str],
              min_count: int = 2) -> list[tuple[str, str]]:
    """Plain BPE: repeatedly merge the most frequent adjacent pair (ties: smallest pair in code-point
    order). Deterministic; pairs whose merge would give a forbidden string are never merged."""
    words = [list(w) for w in sorted(word_freqs)]
    freqs = [word_freqs[tuple(w)] for w in words]
    counts: collections.Counter = collections.Counter()
    where: dict[tuple[str, str], set[int]] = collections.defaultdict(set)
    for i, w in enumerate(words):
        for p in zip(w, w[1:]):
            counts[p] += freqs[i]
            where[p].add(i)
    heap = [(-c, p) for p, c in counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges and heap:
        negc, pair = heapq.heappop(heap)
        c = counts.get(pair, 0)
        if c != -negc or c <= 0:
            continue  # stale entry
        if c < min_count:
            break
        if pair[0] + pair[1] in forbidden:
            counts[pair] = -1  # never again
            continue
        merges.append(pair)
        a, b = pair
        ab = a + b
        changed: set[tuple[str, str]] = set()
        for i in sorted(where.pop(pair, ())):
            w, f = words[i], freqs[i]
            if len(w) < 2:
                continue
            for p in zip(w, w[1:]):
                if counts.get(p, 0) > 0:
                    counts[p] -= f
                    changed.add(p)
            j, nw = 0, []
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    nw.append(ab)
                    j += 2
                else:
                    nw.append(w[j])
                    j += 1
            words[i] = nw
            for p in zip(nw, nw[1:]):
                if counts.get(p, 0) >= 0:
                    counts[p] += f
                    changed.add(p)
                    where[p].add(i)
        counts.pop(pair, None)
        for p in changed:
            if counts.get(p, 0) > 0:
                heapq.heappush(heap, (-counts[p], p))
    return merges


# rough GPT-2 pre-tokenizer (Python's re has no \p{L}: [^\W\d_] is "letter")
# contractions case-insensitive (as llama3/qwen2 split them) so that 'S 'RE 'LL ... become tokens too
_PRETOK = re.compile(r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+""")


def learn_byte_level_bpe(texts: list[str], n_merges: int, forbidden: set[str]):
    freqs: collections.Counter = collections.Counter()
    for t in texts:
        for m in _PRETOK.findall(t):
            freqs[tuple(BYTE_TO_CHAR[b] for b in m.encode("utf-8"))] += 1
    return learn_bpe(freqs, n_merges, forbidden)


SPM_SPACE = "\u2581"


def learn_spm(texts: list[str], n_merges: int, n_chars_max: int, forbidden: set[str]):
    """SentencePiece-like BPE: spaces become ▁ with a ▁ prefix; digits are split; characters seen at
    least 3 times are pieces (the rest fall back to <0xXX> bytes); newline/tab/control are never pieces."""
    char_counts: collections.Counter = collections.Counter()
    segs: collections.Counter = collections.Counter()
    seg_re = re.compile(SPM_SPACE + r"*[^" + SPM_SPACE + r"]+|" + SPM_SPACE + "+")
    for t in texts:
        s = SPM_SPACE + t.replace(" ", SPM_SPACE)
        char_counts.update(s)
        for seg in seg_re.findall(s):
            segs[seg] += 1

    def allowed_char(ch: str) -> bool:
        cat = unicodedata.category(ch)
        return not (cat.startswith("C") or cat in ("Zl", "Zp") or (ch.isspace() and ch != SPM_SPACE))

    chars = [c for c, n in sorted(char_counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= 3 and allowed_char(c)]
    chars = chars[:n_chars_max]
    if SPM_SPACE not in chars:
        chars.append(SPM_SPACE)
    char_set = set(chars)
    words: collections.Counter = collections.Counter()
    for seg, n in segs.items():
        cur: list[str] = []
        for ch in seg:
            if ch in char_set and not ch.isdigit():
                cur.append(ch)
            else:
                if len(cur) > 1:
                    words[tuple(cur)] += n
                cur = []
        if len(cur) > 1:
            words[tuple(cur)] += n
    merges = learn_bpe(words, n_merges, forbidden | char_set)
    return merges, chars


def write_gguf(path: Path, arch: str, tokens: list[str], types: list[int], scores: list[float] | None,
               merges: list[str] | None, model: str, pre: str | None, special: dict, add_bos: bool,
               add_eos: bool, chat_template: str | None, name: str, extra: dict | None = None) -> None:
    import gguf  # the PyPI package, installed into the oracle venv

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".gguf.tmp")
    w = gguf.GGUFWriter(str(tmp), arch)
    w.add_name(name)
    w.add_description("Enclave golden test vocabulary (vocab only, no tensors); tools/oracle/make_goldens.py")
    # hyperparameters of a tiny model, like llama.cpp's models/ggml-vocab-*.gguf carry
    w.add_vocab_size(len(tokens))
    w.add_context_length(4096)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(16)
    w.add_file_type(0)
    w.add_tokenizer_model(model)
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    if scores is not None:
        w.add_token_scores(scores)
    w.add_token_types(types)
    if merges is not None:
        w.add_token_merges(merges)
    if "bos" in special:
        w.add_bos_token_id(special["bos"])
    if "eos" in special:
        w.add_eos_token_id(special["eos"])
    if "unk" in special:
        w.add_unk_token_id(special["unk"])
    if "pad" in special:
        w.add_pad_token_id(special["pad"])
    w.add_add_bos_token(add_bos)
    w.add_add_eos_token(add_eos)
    for k, v in (extra or {}).items():
        if isinstance(v, bool):
            w.add_bool(k, v)
        else:
            w.add_string(k, v)
    if chat_template is not None:
        w.add_chat_template(chat_template)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    os.replace(tmp, path)


# token types, as in gguf.TokenType / llama.cpp's LLAMA_TOKEN_TYPE_*
T_NORMAL, T_UNKNOWN, T_CONTROL, T_USER, T_UNUSED, T_BYTE = 1, 2, 3, 4, 5, 6

# chat templates (Jinja sources) written from the public model cards; llama.cpp only detects them by substrings
TEMPLATE_SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + "
    "message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TEMPLATE_QWEN2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)
TEMPLATE_LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
TEMPLATE_DEEPSEEK_R1 = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}"
    "{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}"
    "{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜>"
    "<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + "
    "tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- else %}"
    "{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + "
    "'\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜>"
    "<｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}{%- if message['role'] == 'assistant' and "
    "message['content'] is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + "
    "'<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}{%- else %}{% set content = message['content'] %}"
    "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + "
    "content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{%- if message['role'] == 'tool' %}"
    "{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + "
    "message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}{%- else %}"
    "{{'\\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}"
    "{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_generation_prompt and not "
    "ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)
TEMPLATE_LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)

# the BPE families: pre-tokenizer, architecture, special tokens (text, type) and where they sit
BPE_FAMILIES = {
    "bpe-default": dict(pre="default", arch="llama", at_start=False, add_bos=False,
                        specials=[("<|endoftext|>", T_CONTROL)],
                        ids=dict(bos="<|endoftext|>", eos="<|endoftext|>"), template=None),
    "bpe-llama3": dict(pre="llama-bpe", arch="llama", at_start=False, add_bos=True,
                       specials=[("<|begin_of_text|>", T_CONTROL), ("<|end_of_text|>", T_CONTROL),
                                 ("<|reserved_special_token_0|>", T_CONTROL), ("<|start_header_id|>", T_CONTROL),
                                 ("<|end_header_id|>", T_CONTROL), ("<|eot_id|>", T_CONTROL)],
                       ids=dict(bos="<|begin_of_text|>", eos="<|eot_id|>"), template=TEMPLATE_LLAMA3),
    "bpe-smollm": dict(pre="smollm", arch="llama", at_start=True, add_bos=False,
                       specials=[("<|endoftext|>", T_CONTROL), ("<|im_start|>", T_CONTROL), ("<|im_end|>", T_CONTROL),
                                 ("<repo_name>", T_CONTROL), ("<file_sep>", T_CONTROL)],
                       ids=dict(bos="<|im_start|>", eos="<|im_end|>", unk="<|endoftext|>", pad="<|im_end|>"),
                       template=TEMPLATE_SMOLLM2),
    "bpe-qwen2": dict(pre="qwen2", arch="qwen2", at_start=False, add_bos=False,
                      specials=[("<|endoftext|>", T_CONTROL), ("<|im_start|>", T_CONTROL), ("<|im_end|>", T_CONTROL),
                                ("<|object_ref_start|>", T_CONTROL), ("<tool_call>", T_USER), ("</tool_call>", T_USER)],
                      ids=dict(bos="<|endoftext|>", eos="<|im_end|>", pad="<|endoftext|>"), template=TEMPLATE_QWEN2),
    "bpe-deepseek-r1-qwen": dict(pre="deepseek-r1-qwen", arch="qwen2", at_start=False, add_bos=True,
                                 specials=[("<｜end▁of▁sentence｜>", T_CONTROL), ("<｜User｜>", T_CONTROL),
                                           ("<｜Assistant｜>", T_CONTROL), ("<｜begin▁of▁sentence｜>", T_CONTROL),
                                           ("<|im_start|>", T_CONTROL), ("<think>", T_USER), ("</think>", T_USER),
                                           ("<｜▁pad▁｜>", T_CONTROL)],
                                 ids=dict(bos="<｜begin▁of▁sentence｜>", eos="<｜end▁of▁sentence｜>", pad="<｜▁pad▁｜>"),
                                 template=TEMPLATE_DEEPSEEK_R1),
}
SPM_CONTROL = ["<|im_start|>", "<|im_end|>"]
SPM_USER = ["<|user|>", "[INST]", "[/INST]"]
VOCAB_NAMES = ["spm"] + list(BPE_FAMILIES)
VOCAB_ARCH = {"spm": "llama", **{k: v["arch"] for k, v in BPE_FAMILIES.items()}}

N_BPE_MERGES = 2000
N_SPM_MERGES = 2000
N_SPM_CHARS = 700


def build_vocabs(strings) -> dict[str, Path]:
    texts = learning_corpus(strings)
    all_special = set(SPECIAL_TOKENS) | {t for f in BPE_FAMILIES.values() for t, _ in f["specials"]}
    out: dict[str, Path] = {}

    # --- byte-level BPE, shared base for the five families -------------------------------------
    merges = learn_byte_level_bpe(texts, N_BPE_MERGES, forbidden=all_special)
    base = [c for _, c in bytes_to_unicode()]
    seen = set(base)
    merged = []
    for a, b in merges:
        t = a + b
        assert t not in seen, t
        seen.add(t)
        merged.append(t)
    merge_strs = [f"{a} {b}" for a, b in merges]
    print(f"  byte-level BPE: {len(merges)} merges learned from {len(texts)} texts")
    for name, fam in BPE_FAMILIES.items():
        specials = [t for t, _ in fam["specials"]]
        stypes = [ty for _, ty in fam["specials"]]
        if fam["at_start"]:
            tokens = specials + base + merged
            types = stypes + [T_NORMAL] * (len(base) + len(merged))
        else:
            tokens = base + merged + specials
            types = [T_NORMAL] * (len(base) + len(merged)) + stypes
        assert len(set(tokens)) == len(tokens)
        ids = {k: tokens.index(v) for k, v in fam["ids"].items()}
        path = GOLDEN / "vocab" / f"{name}.gguf"
        write_gguf(path, fam["arch"], tokens, types, None, merge_strs, "gpt2", fam["pre"], ids,
                   fam["add_bos"], False, fam["template"], f"enclave-golden-{name}")
        out[name] = path

    # --- SentencePiece-style (tokenizer.ggml.model = "llama") -----------------------------------
    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    forbidden = all_special | set(byte_tokens) | {"<unk>", "<s>", "</s>"} | set(SPM_CONTROL) | set(SPM_USER)
    spm_merges, chars = learn_spm(texts, N_SPM_MERGES, N_SPM_CHARS, forbidden)
    pieces = [a + b for a, b in spm_merges]
    assert len(set(pieces)) == len(pieces)
    tokens = ["<unk>", "<s>", "</s>"] + byte_tokens
    types = [T_UNKNOWN, T_CONTROL, T_CONTROL] + [T_BYTE] * 256
    scores = [0.0] * len(tokens)
    # SentencePiece BPE: a piece's score is minus its merge rank; the characters come after, lower still
    for i, p in enumerate(pieces):
        tokens.append(p)
        types.append(T_NORMAL)
        scores.append(float(-i))
    for j, c in enumerate(chars):
        tokens.append(c)
        types.append(T_NORMAL)
        scores.append(float(-(len(pieces) + j)))
    for t in SPM_CONTROL:
        tokens.append(t)
        types.append(T_CONTROL)
        scores.append(0.0)
    for t in SPM_USER:
        tokens.append(t)
        types.append(T_USER)
        scores.append(0.0)
    assert len(set(tokens)) == len(tokens)
    print(f"  spm: {len(pieces)} pieces + {len(chars)} characters")
    path = GOLDEN / "vocab" / "spm.gguf"
    # no tokenizer.ggml.add_space_prefix key: llama.cpp's default for SPM (true) applies, as for Llama 2 files
    write_gguf(path, "llama", tokens, types, scores, None, "llama", "default",
               dict(bos=1, eos=2, unk=0), True, False, TEMPLATE_LLAMA2, "enclave-golden-spm")
    out["spm"] = path
    for name in VOCAB_NAMES:
        size = out[name].stat().st_size
        assert size < 300 * 1024, (name, size)
        print(f"  wrote {out[name].relative_to(ROOT)} ({size:,} bytes)")
    return {n: out[n] for n in VOCAB_NAMES}


# ==================================================================================================
# llama.cpp access (low-level ctypes API of llama-cpp-python, library from LLAMA_CPP_LIB_PATH)
# ==================================================================================================

class Oracle:
    def __init__(self):
        if "LLAMA_CPP_LIB_PATH" not in os.environ:
            sys.exit("LLAMA_CPP_LIB_PATH is not set: source build/oracle/env.sh first")
        import llama_cpp  # noqa: WPS433
        self.ll = llama_cpp
        self.log: list[str] = []

        @llama_cpp.llama_log_callback
        def _log(level, text, user_data):  # keep llama.cpp quiet, but remember what it said
            self.log.append(text.decode("utf-8", "replace"))

        self._log_cb = _log
        llama_cpp.llama_log_set(_log, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        self.commit = os.environ.get("LLAMA_CPP_COMMIT", "unknown")
        self.version = getattr(llama_cpp, "__version__", "unknown")

    def info(self) -> dict:
        return {"llama_cpp_python": self.version, "llama_cpp_commit": self.commit}

    def load(self, path: Path, vocab_only: bool):
        ll = self.ll
        mp = ll.llama_model_default_params()
        mp.vocab_only = vocab_only
        mp.n_gpu_layers = 0
        self.log.clear()
        model = ll.llama_model_load_from_file(str(path).encode(), mp)
        if not model:
            sys.exit(f"llama.cpp could not load {path}:\n" + "".join(self.log[-20:]))
        return model

    def free_model(self, model) -> None:
        self.ll.llama_model_free(model)

    def vocab(self, model):
        return self.ll.llama_model_get_vocab(model)

    def tokenize(self, vocab, data: bytes, add_special: bool, parse_special: bool) -> list[int]:
        ll = self.ll
        n = len(data) * 2 + 16
        buf = (ll.llama_token * n)()
        r = ll.llama_tokenize(vocab, data, len(data), buf, n, add_special, parse_special)
        if r < 0:
            n = -r
            buf = (ll.llama_token * n)()
            r = ll.llama_tokenize(vocab, data, len(data), buf, n, add_special, parse_special)
        assert r >= 0, r
        return list(buf[:r])

    def detokenize(self, vocab, ids: list[int], special: bool = True) -> bytes:
        ll = self.ll
        arr = (ll.llama_token * max(1, len(ids)))(*ids)
        n = len(ids) * 64 + 64
        buf = ctypes.create_string_buffer(n)
        r = ll.llama_detokenize(vocab, arr, len(ids), buf, n, False, special)
        if r < 0:
            n = -r
            buf = ctypes.create_string_buffer(n)
            r = ll.llama_detokenize(vocab, arr, len(ids), buf, n, False, special)
        return buf.raw[:r]

    def piece(self, vocab, tok: int) -> bytes:
        buf = ctypes.create_string_buffer(256)
        r = self.ll.llama_token_to_piece(vocab, tok, buf, 256, 0, True)
        return buf.raw[:max(r, 0)]

    def builtin_templates(self) -> list[str]:
        ll = self.ll
        n = ll.llama_chat_builtin_templates(None, 0)
        arr = (ctypes.c_char_p * n)()
        ll.llama_chat_builtin_templates(arr, n)
        return [arr[i].decode() for i in range(n)]

    def apply_template(self, tmpl: str, messages: list[dict], add_ass: bool) -> str | None:
        ll = self.ll
        msgs = (ll.llama_chat_message * len(messages))()
        keep = []
        for i, m in enumerate(messages):
            role, content = m["role"].encode(), m["content"].encode()
            keep += [role, content]
            msgs[i].role = role
            msgs[i].content = content
        n = 2 * sum(len(m["content"].encode()) + 64 for m in messages) + 256
        buf = ctypes.create_string_buffer(n)
        r = ll.llama_chat_apply_template(tmpl.encode(), msgs, len(messages), add_ass, buf, n)
        if r < 0:
            return None
        if r > n:
            n = r + 1
            buf = ctypes.create_string_buffer(n)
            r = ll.llama_chat_apply_template(tmpl.encode(), msgs, len(messages), add_ass, buf, n)
        return buf.raw[:r].decode("utf-8")

    def meta(self, model, key: str) -> str | None:
        buf = ctypes.create_string_buffer(1 << 16)
        r = self.ll.llama_model_meta_val_str(model, key.encode(), buf, len(buf))
        return None if r < 0 else buf.raw[:r].decode("utf-8", "replace")


# ==================================================================================================
# 3. tokenization goldens
# ==================================================================================================

TOKENIZE_MODES = [(True, False), (False, True), (True, True)]


def llama_cpp_codepoints(b: bytes) -> list[int]:
    """What llama.cpp's unicode_cpts_from_utf8 makes of raw bytes: it checks only the lead/continuation bit
    patterns (no overlong, surrogate or range checks) and turns each undecodable byte into U+FFFD."""
    out, i, n = [], 0, len(b)
    while i < n:
        c = b[i]
        if c < 0x80:
            out.append(c)
            i += 1
            continue
        size = 2 if c & 0xE0 == 0xC0 else 3 if c & 0xF0 == 0xE0 else 4 if c & 0xF8 == 0xF0 else 0
        if c & 0xC0 == 0x80 or size == 0 or i + size > n or any(x & 0xC0 != 0x80 for x in b[i + 1:i + size]):
            out.append(0xFFFD)
            i += 1
            continue
        cp = c & (0x7F >> size)
        for x in b[i + 1:i + size]:
            cp = (cp << 6) | (x & 0x3F)
        out.append(cp)
        i += size
    return out


ABORT_REASON = ("llama.cpp aborts: std::invalid_argument('invalid codepoint') escapes llama_tokenize because a "
                "4-byte sequence decodes above U+10FFFF (unicode_cpt_to_utf8 in the BPE pre-tokenizer)")


def llama_cpp_bpe_aborts(b: bytes) -> bool:
    return any(cp > 0x10FFFF for cp in llama_cpp_codepoints(b))


def write_tokenize(oracle: Oracle, strings, name: str, path: Path, model_field: str) -> None:
    model = oracle.load(path, vocab_only=True)
    vocab = oracle.vocab(model)
    ll = oracle.ll
    is_bpe = ll.llama_vocab_type(vocab) == 2  # LLAMA_VOCAB_TYPE_BPE
    cases, aborts = [], 0
    for i, (b, _kind) in enumerate(strings):
        for add_special, parse_special in TOKENIZE_MODES:
            case = {"s": i, "add_special": add_special, "parse_special": parse_special}
            if is_bpe and llama_cpp_bpe_aborts(b):
                case.update({"ids": None, "error": ABORT_REASON})
                aborts += 1
            else:
                case["ids"] = oracle.tokenize(vocab, b, add_special, parse_special)
            cases.append(case)
    if aborts:
        print(f"  {name}: {aborts} cases have no ids (llama.cpp would abort the process)")
    info = {
        "n_vocab": ll.llama_vocab_n_tokens(vocab),
        "type": ll.llama_vocab_type(vocab),
        "bos": ll.llama_vocab_bos(vocab), "eos": ll.llama_vocab_eos(vocab), "eot": ll.llama_vocab_eot(vocab),
        "add_bos": bool(ll.llama_vocab_get_add_bos(vocab)), "add_eos": bool(ll.llama_vocab_get_add_eos(vocab)),
    }
    spot_check(oracle, vocab, strings, cases, name)
    oracle.free_model(model)
    write_json(GOLDEN / "tokenize" / f"{name}.json", {
        "model": model_field,
        "fingerprint": fingerprint(path),
        "oracle": oracle.info(),
        "vocab": info,
        "cases": cases,
    })


def spot_check(oracle: Oracle, vocab, strings, cases, name: str) -> None:
    """Decode the (add_special=false, parse_special=true) ids of valid strings back to text: must give the
    input (SPM adds a leading space that llama.cpp's detokenizer strips again)."""
    bad = 0
    for c in cases:
        if c["add_special"] or not c["parse_special"] or c["ids"] is None:
            continue
        b, kind = strings[c["s"]]
        if kind == "invalid-utf8":
            continue
        back = oracle.detokenize(vocab, c["ids"], special=True)
        if back != b:
            bad += 1
            if bad <= 5:
                print(f"    [{name}] round trip differs for string {c['s']} ({kind}): {b[:60]!r} -> {back[:60]!r}")
    print(f"  {name}: {len(cases)} cases, {bad} valid strings do not round-trip through llama_detokenize")


# ==================================================================================================
# 4. chat templates
# ==================================================================================================

CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are a helpful assistant."},
     {"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are a concise assistant. Answer in one sentence."},
     {"role": "user", "content": "Why is the sky blue?"},
     {"role": "assistant", "content": "Because air scatters blue light more than red light."},
     {"role": "user", "content": "And why are sunsets red?"}],
    [{"role": "user", "content": "你好，请介绍一下你自己。"},
     {"role": "assistant", "content": "你好！我是一个人工智能助手。"},
     {"role": "user", "content": "用中文写一首关于春天的短诗。"}],
    [{"role": "user", "content": "What is 17 * 23?"},
     {"role": "assistant", "content": "<think>\n17 * 23 = 17 * 20 + 17 * 3 = 340 + 51 = 391.\n</think>\n\n17 * 23 = 391."},
     {"role": "user", "content": "And 391 / 17?"}],
    [{"role": "system", "content": "  Leading and trailing whitespace should survive or be trimmed.  \n"},
     {"role": "user", "content": "\n  Code:\n```python\ndef f(x):\n\treturn x * 2\n```\n  "}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help you today?"}],
    [{"role": "system", "content": "系统提示：只用中文回答。"},
     {"role": "user", "content": "Translate 'good morning' into Chinese and Japanese. 😀"},
     {"role": "assistant", "content": "早上好 / おはようございます"},
     {"role": "user", "content": "Thanks! <|im_start|> is a special token, isn't it?"}],
]
BUILTIN_NAMES = ["chatml", "llama3", "deepseek3", "deepseek2", "llama2", "zephyr", "mistral-v7"]


def detect_template_name(oracle: Oracle, tmpl: str, builtins: list[str]) -> list[str]:
    """llama.cpp has no API that returns the name it detects, so: the builtin whose renders of all
    conversations (with and without the generation prompt) equal those of the template source."""
    want = [oracle.apply_template(tmpl, conv, g) for conv in CONVERSATIONS for g in (True, False)]
    if want[0] is None:
        return []
    return [name for name in builtins
            if [oracle.apply_template(name, conv, g) for conv in CONVERSATIONS for g in (True, False)] == want]


def write_chat_templates(oracle: Oracle, vocab_paths: dict[str, Path], default_model: Path | None) -> None:
    builtins = oracle.builtin_templates()
    renders, missing = [], []
    for name in BUILTIN_NAMES:
        if name not in builtins:
            missing.append(name)
            continue
        for ci, conv in enumerate(CONVERSATIONS):
            for gen in (True, False):
                text = oracle.apply_template(name, conv, gen)
                assert text is not None, name
                renders.append({"template": name, "conversation": ci, "add_generation_prompt": gen, "text": text})
    models = []
    sources = []
    if default_model is not None:
        sources.append(("default", default_model))
    sources += [(f"vocab/{n}.gguf", p) for n, p in vocab_paths.items()]
    for label, path in sources:
        model = oracle.load(path, vocab_only=True)
        src = oracle.ll.llama_model_chat_template(model, None)
        oracle.free_model(model)
        entry = {"model": label, "fingerprint": fingerprint(path)}
        if src is None:
            entry.update({"chat_template": None, "detected": None})
            models.append(entry)
            continue
        src = src.decode("utf-8")
        candidates = detect_template_name(oracle, src, builtins)
        # the first builtin (in llama.cpp's order) that renders every conversation identically; null when
        # llama_chat_apply_template does not recognise the template at all
        detected = candidates[0] if candidates else None
        entry.update({"chat_template": src, "detected": detected, "detected_candidates": candidates, "renders": [
            {"conversation": ci, "add_generation_prompt": gen, "text": oracle.apply_template(src, conv, gen)}
            for ci, conv in enumerate(CONVERSATIONS) for gen in (True, False)] if detected else []})
        models.append(entry)
        print(f"  chat template of {label}: llama.cpp detects {detected}")
    write_json(GOLDEN / "chat_templates.json", {
        "oracle": oracle.info(),
        "builtin_templates": builtins,
        "missing_builtins": missing,
        "conversations": CONVERSATIONS,
        "renders": renders,
        "models": models,
    })


# ==================================================================================================
# 5. greedy generation with the default model
# ==================================================================================================

GEN_PROMPTS = [
    ("english-qa", [{"role": "user", "content": "What is the capital of France?"}]),
    ("english-explain", [{"role": "user", "content": "Explain in two sentences why the sky is blue."}]),
    ("chinese", [{"role": "user", "content": "你好！请用中文简单介绍一下北京。"}]),
    ("python-code", [{"role": "user", "content": "Write a Python function that checks whether a number is prime."}]),
    ("cpp-code", [{"role": "user", "content": "Write a C++ function that reverses a std::string in place."}]),
    ("arithmetic", [{"role": "user", "content": "What is 12 + 35? Answer with the number only."}]),
    ("list", [{"role": "user", "content": "List five fruits, one per line."}]),
    ("translation", [{"role": "user", "content": "Translate into French: 'The weather is nice today.'"}]),
    ("poem", [{"role": "user", "content": "Write a short poem about the ocean."}]),
    ("json", [{"role": "user", "content": "Return a JSON object with keys \"name\" and \"age\" for a person called Alice who is 30."}]),
    ("one-word", [{"role": "user", "content": "Is water wet? Answer with one word."}]),
    ("system-prompt", [{"role": "system", "content": "You are a pirate. Always answer like a pirate."},
                       {"role": "user", "content": "How are you today?"}]),
    ("multi-turn", [{"role": "user", "content": "My name is Sam."},
                    {"role": "assistant", "content": "Nice to meet you, Sam! How can I help you today?"},
                    {"role": "user", "content": "What is my name?"}]),
    ("summarize", [{"role": "user", "content": "Summarize in one sentence: Large language models are neural networks "
                                               "trained on large amounts of text to predict the next token."}]),
    ("shell", [{"role": "user", "content": "How do I list all files, including hidden ones, in a Linux directory?"}]),
]
GEN_SETTINGS = dict(n_ctx=4096, n_batch=512, n_ubatch=512, n_predict=64, sampling="greedy (argmax of the logits)",
                    type_k="f16", type_v="f16", flash_attn_type="disabled",
                    add_special=True, parse_special=True)


def long_prompt(oracle: Oracle, vocab, tmpl: str, strings, target_tokens: int = 1500):
    """A ~1,500-token prompt: a document made of the English/code test strings, then a question."""
    parts = [b.decode() for b, k in strings if k in ("english", "code-python", "code-cpp", "numbers")]
    doc, i = [], 0
    while True:
        doc.append(parts[i % len(parts)])
        i += 1
        msgs = [{"role": "user", "content": "Read the following document and then tell me what it is about.\n\n"
                                             + "\n".join(doc) + "\n\nWhat is the document about?"}]
        text = oracle.apply_template(tmpl, msgs, True)
        if len(oracle.tokenize(vocab, text.encode(), True, True)) >= target_tokens:
            return msgs


def write_generate(oracle: Oracle, strings, model_path: Path, threads: int) -> None:
    ll = oracle.ll
    model = oracle.load(model_path, vocab_only=False)
    vocab = oracle.vocab(model)
    tmpl = ll.llama_model_chat_template(model, None).decode("utf-8")
    n_vocab = ll.llama_vocab_n_tokens(vocab)
    cp = ll.llama_context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch = GEN_SETTINGS["n_ctx"], GEN_SETTINGS["n_batch"], GEN_SETTINGS["n_ubatch"]
    cp.n_threads = cp.n_threads_batch = threads
    cp.n_seq_max = 1
    # Flash attention off: llama.cpp's fused CPU kernel accumulates V in f16, which moves the logits of
    # small models by 1-5% between runs of different batching; the unfused path rounds each value once.
    cp.flash_attn_type = FLASH_ATTN_DISABLED
    fa_default = cp.flash_attn_type
    oracle.log.clear()
    ctx = ll.llama_init_from_model(model, cp)
    assert ctx, "".join(oracle.log[-20:])
    fa_log = [l.strip() for l in oracle.log if "flash_attn" in l or "Flash Attention" in l]
    import numpy as np

    prompts = list(GEN_PROMPTS) + [("long-document", long_prompt(oracle, vocab, tmpl, strings))]
    cases = []
    for name, messages in prompts:
        prompt = oracle.apply_template(tmpl, messages, True)
        pids = oracle.tokenize(vocab, prompt.encode(), GEN_SETTINGS["add_special"], GEN_SETTINGS["parse_special"])
        ll.llama_memory_clear(ll.llama_get_memory(ctx), True)
        for s in range(0, len(pids), cp.n_batch):
            chunk = pids[s:s + cp.n_batch]
            arr = (ll.llama_token * len(chunk))(*chunk)
            rc = ll.llama_decode(ctx, ll.llama_batch_get_one(arr, len(chunk)))
            assert rc == 0, rc
        out, stop = [], "length"
        eog = None
        for _ in range(GEN_SETTINGS["n_predict"]):
            logits = np.ctypeslib.as_array(ll.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
            tok = int(np.argmax(logits))
            if ll.llama_vocab_is_eog(vocab, tok):
                stop, eog = "eog", tok
                break
            out.append(tok)
            arr = (ll.llama_token * 1)(tok)
            rc = ll.llama_decode(ctx, ll.llama_batch_get_one(arr, 1))
            assert rc == 0, rc
        text = oracle.detokenize(vocab, out, special=True).decode("utf-8", "replace")
        case = {"name": name, "messages": messages, "prompt": prompt, "prompt_ids": pids, "ids": out, "stop": stop}
        if eog is not None:
            case["eog_id"] = eog
        case["text"] = text
        cases.append(case)
        print(f"  generate {name}: {len(pids)} prompt tokens, {len(out)} generated ({stop}): {text[:60]!r}")
    ll.llama_free(ctx)
    add_bos = bool(ll.llama_vocab_get_add_bos(vocab))
    oracle.free_model(model)
    settings = dict(GEN_SETTINGS)
    settings.update({"threads": threads, "flash_attn_type_value": fa_default, "flash_attn_log": fa_log,
                     "model_add_bos": add_bos, "chat_template_applied_by": "llama_chat_apply_template(model template)"})
    write_json(GOLDEN / "generate" / "smollm2.json", {
        "model": "default",
        "fingerprint": fingerprint(model_path),
        "oracle": oracle.info(),
        "settings": settings,
        "cases": cases,
    })


# ==================================================================================================
# 6. logits of synthetic models (needs build/bin/enclave-synth; run with --logits)
# ==================================================================================================

SYNTH_TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q4_k", "q5_k", "q6_k"]
SYNTH_VOCAB = {"llama": "bpe-llama3", "qwen2": "bpe-qwen2"}
LOGITS_PROMPT = "The quick brown fox jumps over the lazy dog. 你好，世界！ def f(x): return x * 2"


FLASH_ATTN_DISABLED = 0  # llama_flash_attn_type: -1 auto, 0 disabled, 1 enabled


def write_logits(oracle: Oracle, synth: Path, seed: int, threads: int, archs: list[str], types: list[str]) -> None:
    import numpy as np

    ll = oracle.ll
    if not synth.exists():
        sys.exit(f"{synth} does not exist: build enclave-synth first (cmake --build build --target enclave-synth)")
    work = Path(os.environ.get("ORACLE_DIR", ROOT / "build" / "oracle")) / "synth"
    work.mkdir(parents=True, exist_ok=True)
    for arch in archs:
        for typ in types:
            vocab_rel = f"tests/golden/vocab/{SYNTH_VOCAB[arch]}.gguf"
            out = work / f"{arch}-{typ}.gguf"
            args = ["--arch", arch, "--type", typ, "--seed", str(seed), "--vocab", vocab_rel]
            subprocess.run([str(synth), str(out)] + args, check=True, cwd=ROOT)
            model = oracle.load(out, vocab_only=False)
            vocab = oracle.vocab(model)
            pids = oracle.tokenize(vocab, LOGITS_PROMPT.encode(), True, False)
            n_vocab = ll.llama_vocab_n_tokens(vocab)
            cp = ll.llama_context_default_params()
            cp.n_ctx, cp.n_batch, cp.n_ubatch = 512, 512, 512
            cp.n_threads = cp.n_threads_batch = threads
            cp.flash_attn_type = FLASH_ATTN_DISABLED  # see write_generate
            ctx = ll.llama_init_from_model(model, cp)
            assert ctx, "".join(oracle.log[-20:])
            arr = (ll.llama_token * len(pids))(*pids)
            rc = ll.llama_decode(ctx, ll.llama_batch_get_one(arr, len(pids)))
            assert rc == 0, rc
            logits = np.ctypeslib.as_array(ll.llama_get_logits_ith(ctx, -1), shape=(n_vocab,)).astype(np.float32)
            ll.llama_free(ctx)
            oracle.free_model(model)
            write_json(GOLDEN / "logits" / f"{arch}-{typ}.json", {
                "synth_args": ["OUT"] + args,
                "fingerprint": fingerprint(out),
                "oracle": oracle.info(),
                "settings": {"n_ctx": 512, "n_batch": 512, "threads": threads, "flash_attn_type": "disabled",
                             "prompt": LOGITS_PROMPT, "add_special": True, "parse_special": False},
                "prompt_ids": pids,
                "argmax": int(np.argmax(logits)),
                "logits": [float(x) for x in logits],
            })


# ==================================================================================================

def default_model_path() -> Path:
    d = os.environ.get("ENCLAVE_MODEL_DIR")
    if d and (Path(d) / DEFAULT_MODEL_NAME).exists():
        return Path(d) / DEFAULT_MODEL_NAME
    return Path("/tmp/models") / DEFAULT_MODEL_NAME


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None,
                    help=f"the default model (SmolLM2-135M-Instruct Q4_1); default $ENCLAVE_MODEL_DIR/{DEFAULT_MODEL_NAME}")
    ap.add_argument("--only", default="strings,vocab,tokenize,chat,generate",
                    help="comma-separated steps: strings,vocab,tokenize,chat,generate,logits")
    ap.add_argument("--logits", action="store_true", help="also write logits/ with build/bin/enclave-synth")
    ap.add_argument("--synth", type=Path, default=ROOT / "build" / "bin" / "enclave-synth")
    ap.add_argument("--seed", type=int, default=1234, help="seed passed to enclave-synth")
    ap.add_argument("--archs", default="llama,qwen2")
    ap.add_argument("--types", default=",".join(SYNTH_TYPES))
    ap.add_argument("--threads", type=int, default=2,
                    help="llama.cpp threads for generate/logits (recorded in the JSON; default 2 so files match across machines)")
    args = ap.parse_args()
    steps = set(args.only.split(","))
    if args.logits:
        steps.add("logits")
    model_path = (args.model or default_model_path()).resolve()
    need_model = steps & {"tokenize", "chat", "generate"}
    if need_model and not model_path.exists():
        sys.exit(f"default model not found at {model_path}: pass --model")

    strings = build_strings()
    print(f"{len(strings)} test strings")
    if "strings" in steps:
        write_strings(strings)
    if "vocab" in steps:
        vocab_paths = build_vocabs(strings)
    else:
        vocab_paths = {n: GOLDEN / "vocab" / f"{n}.gguf" for n in VOCAB_NAMES}
    if not steps & {"tokenize", "chat", "generate", "logits"}:
        return 0
    oracle = Oracle()
    if "tokenize" in steps:
        for name, path in vocab_paths.items():
            write_tokenize(oracle, strings, name, path, f"vocab/{name}.gguf")
        write_tokenize(oracle, strings, "smollm2", model_path, "default")
    if "chat" in steps:
        write_chat_templates(oracle, vocab_paths, model_path)
    if "generate" in steps:
        write_generate(oracle, strings, model_path, args.threads)
    if "logits" in steps:
        write_logits(oracle, args.synth, args.seed, args.threads, args.archs.split(","), args.types.split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
