"""A deterministic corpus of varied English-like text for tiny tokenizers and datasets.

What it is: `generate_texts(n, seed)` returns `n` texts built from templates and word lists with a
seeded RNG: one-word rows, short sentences, multi-sentence paragraphs (up to ~200 words), digits,
punctuation, quotes, code-like lines and non-ASCII text (accents, CJK, emoji), so tokenization,
padding and length statistics meet realistic variety.

What it is NOT: not natural language of any quality, and no file I/O (see `tiny_datasets.py`).
"""

from __future__ import annotations

import random

_SUBJECTS = [
    "the model", "a researcher", "the attention head", "this neuron", "the residual stream",
    "our probe", "the tokenizer", "a sparse autoencoder", "the cat", "my neighbour",
    "the committee", "a small robot", "the river", "every student",
]  # fmt: skip
_VERBS = [
    "predicts", "copies", "ignores", "writes", "reads", "activates on", "suppresses",
    "remembers", "follows", "compares", "describes", "visits", "builds", "explains",
]  # fmt: skip
_OBJECTS = [
    "the next token", "induction patterns", "a long sentence", "the previous word",
    "numbers between 1 and 100", "capital cities", "French verbs", "the bracket",
    "an old map", "the morning train", "three red apples", "a quiet garden",
]  # fmt: skip
_TAILS = [
    "", " quickly", " again and again", " in layer 3", " without any warning",
    " before lunch", ", surprisingly", " (see Figure 2)", " at 4:30 pm", " by 12.5%",
]  # fmt: skip
_EXTRAS = [
    "Café au lait coûte 3,50 €.", "Straße und Übergröße sind schwer.", "東京は大きな都市です。",
    "Les élèves étudient à l'école.", "¿Dónde está la biblioteca?", "Emoji test: 🙂 🚀 ✨",
    "def add(a, b):\n    return a + b", '{"key": "value", "n": 42}', "x = [1, 2, 3] # list",
    "Q: What is 7 * 6?\nA: 42.", "\"Quoted text,\" she said, 'and more.'", "e-mail: a.b@c.org",
]  # fmt: skip


def _sentence(rng: random.Random) -> str:
    text = (
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}{rng.choice(_TAILS)}"
    )
    return text[0].upper() + text[1:] + rng.choice([".", ".", ".", "!", "?"])


def _text(rng: random.Random) -> str:
    shape = rng.random()
    if shape < 0.05:
        return rng.choice(_OBJECTS).split()[-1]  # a single word
    if shape < 0.15:
        return rng.choice(_EXTRAS)
    if shape < 0.55:
        return _sentence(rng)
    if shape < 0.9:
        return " ".join(_sentence(rng) for _ in range(rng.randint(2, 6)))
    paragraphs = [" ".join(_sentence(rng) for _ in range(rng.randint(3, 8))) for _ in range(3)]
    return "\n\n".join(paragraphs)  # long, multi-paragraph (~100-200 words)


def generate_texts(n: int, *, seed: int = 0) -> list[str]:
    """`n` varied texts; the same (n, seed) always gives the same list."""
    rng = random.Random(seed)
    return [_text(rng) for _ in range(n)]


def tokenizer_training_texts() -> list[str]:
    """Texts that cover every word list (so every word gets merges), plus a generated sample."""
    return [*_SUBJECTS, *_VERBS, *_OBJECTS, *_TAILS, *_EXTRAS, *generate_texts(400, seed=1)]
