"""Text the tokenizer and evaluation fixtures share: sentences in many scripts, and invalid UTF-8."""

MIXED = [
    "Hello, world! It's a test: we'll see what they've done, isn't it? I'm sure you'd agree.",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "for (int i = 0; i < 10; ++i) {\n\tprintf(\"%d\\n\", i);\n}\n",
    "Windows line endings\r\nsecond line\r\n\r\nthird after blank\r\n",
    "Tabs\tbetween\t\twords and    runs of     spaces   \n\n\n   trailing   ",
    "Unicode: café naïve résumé — “quotes” ‘single’ … 日本語のテキスト 中文 한국어 Ελληνικά русский العربية עברית",
    "Combining: e\u0301 a\u0308 and precomposed é ä; ligature ﬁ; fullwidth ＡＢＣ１２３; superscript x² ½",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🧪 and symbols ∑ ∫ √ ≤ ≥ ≠ → ← ©®™",
    "Numbers 12345 3.14159 1,000,000 0x1F 1e-10 and ⅔ Ⅻ ٣٤٥",
    "Special tokens inline: </s> and <pad> and <s>text</s> and <mask> after space  <mask>end.",
    "Contractions: don't DON'T it's IT'S we're they've I'll he'd 'quoted' ''double''",
    "   leading spaces and a trailing newline\n",
    "x",
    "",
    " ",
    "\n",
    "a\u00a0b\u2003c\u3000d\u2028e\u0085f",
    "mixedCASE snake_case kebab-case CamelCase __dunder__ $dollar @at #hash %percent",
    "import os\nimport sys\n\nclass Foo(object):\n    \"\"\"Docstring.\"\"\"\n    def __init__(self, x: int = 3) -> None:\n        self.x = x  # comment\n",
]
# raw byte strings with invalid UTF-8, decoded as every reader here does (errors="replace")
INVALID = [b"bad \xff\xfe bytes \xc3( and truncated \xe2\x82", b"\xed\xa0\x80 surrogate \xf4\x90\x80\x80 too big", b"ok \xc0\xaf overlong"]
