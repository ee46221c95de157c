"""Token pieces read as text by the tokenizer's own decoder: a leading-space marker is a space,
whichever decoder (byte-level ``Ġ``, Metaspace ``▁``, whose decoder strips a text's first space)."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from interpstudio.ml.token_pieces import PieceTokenizer, text_around


def _folder(tmp_path: Path, vocab: list[str], decoder: decoders.Decoder) -> Path:
    tokenizer = Tokenizer(models.WordLevel({piece: i for i, piece in enumerate(vocab)},
                                           unk_token=vocab[0]))
    tokenizer.decoder = decoder
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    return tmp_path


def test_piece_texts_show_the_space_a_byte_level_piece_stands_for(tmp_path: Path) -> None:
    vocab = ["<unk>", "Ġthe", "the", "Ċ", "ĠĠ"]
    pieces = PieceTokenizer(_folder(tmp_path, vocab, decoders.ByteLevel()))
    assert pieces.pieces([1, 2, 3, 4]) == ["Ġthe", "the", "Ċ", "ĠĠ"]
    assert pieces.texts([1, 2, 3, 4]) == [" the", "the", "\n", "  "]


def test_piece_texts_keep_a_metaspace_space_its_decoder_strips_from_a_first_token(
        tmp_path: Path) -> None:
    # decoded alone, "▁the" reads "the", like the piece "the": the two would show the same
    vocab = ["<unk>", "▁the", "the"]
    folder = _folder(tmp_path, vocab, decoders.Metaspace(replacement="▁", prepend_scheme="always"))
    assert Tokenizer.from_file(str(folder / "tokenizer.json")).decode([1]) == "the"
    assert PieceTokenizer(folder).texts([1, 2]) == [" the", "the"]


def test_encoding_ignores_padding_and_truncation_saved_in_the_tokenizer_file(
        tmp_path: Path) -> None:
    """A ``tokenizer.json`` may carry padding and truncation settings (saved by whoever called
    ``enable_padding``); transformers turns them off for ``tokenizer(texts)``, so a tokenization
    job stores none of them, but the preview's encoding applied them: a dry run showed pad ids
    (left or right) and cut rows that the job would not store."""
    from transformers import PreTrainedTokenizerFast

    vocab = ["<pad>", "<unk>", "a", "b", "c"]
    texts = ["a b c a b c", "b"]
    for side in ("left", "right"):
        tokenizer = Tokenizer(models.WordLevel({p: i for i, p in enumerate(vocab)},
                                               unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        tokenizer.enable_padding(direction=side, pad_id=0, pad_token="<pad>", length=8)
        tokenizer.enable_truncation(max_length=4)
        folder = tmp_path / side
        folder.mkdir()
        tokenizer.save(str(folder / "tokenizer.json"))
        job = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
        assert job(texts)["input_ids"] == [[2, 3, 4, 2, 3, 4], [3]]
        preview = PieceTokenizer(folder)
        assert preview(texts)["input_ids"] == [[2, 3, 4, 2, 3, 4], [3]]
        assert preview(texts[0])["input_ids"] == [2, 3, 4, 2, 3, 4]


def test_a_byte_token_of_a_longer_character_reads_as_that_character_in_its_context() -> None:
    """Top-norm rows' text (``samples.json``): a byte-level BPE splits "é" into two tokens and an
    emoji into four. A row at one of those bytes read as "�" beside a second "�" in the text
    after it ("h", "�", "�llo" for "héllo"), or as an empty token where its prefix decoded like
    the one before; the three parts did not read as the span. Now the token reads as the
    character it is part of and the parts always join into the span's decode."""
    from hub_server.tiny_models import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    ids = tokenizer("héllo 😀x")["input_ids"]
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert pieces[:3] == ["h", "Ã", "©"] and pieces[-5:] == ["ð", "Ł", "ĺ", "Ģ", "x"]
    for p in range(len(ids)):
        for before, after in ((0, 0), (2, 2), (12, 12)):
            parts = text_around(tokenizer, ids, p, before, after)
            span = ids[max(0, p - before) : p + 1 + after]
            assert "".join(parts) == tokenizer.decode(span), (p, before, after, parts)
            assert parts[1], (p, before, after)  # every token reads as something
    assert text_around(tokenizer, ids, 1, 12, 12) == ("h", "é", "llo 😀x")
    assert text_around(tokenizer, ids, 2, 1, 1) == ("", "é", "ll")  # "Ã" is part of "é"
    emoji = len(ids) - 5
    for p in range(emoji, emoji + 4):
        assert text_around(tokenizer, ids, p, 12, 12) == ("héllo ", "😀", "x")
