"""Streaming text readers: every format, several files, column detection, and each bad input
(non-UTF-8, malformed JSONL line N, CSV without the column, empty file, not-parquet parquet,
huge line or parquet value) with an error naming file and line/row."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hub_server.tiny_datasets import JSONL_FILE, PARQUET_FILE, tiny_dataset_rows
from interpstudio.data import bundled_text_path
from interpstudio.ml.source_inspection import inspect_sources
from interpstudio.ml.text_sources import (
    DecodeReport,
    EmptySource,
    MalformedRecord,
    MissingTextColumn,
    NotParquet,
    NotText,
    NotUtf8,
    ReadOptions,
    RecordTooLarge,
    UnsupportedFormat,
    iter_texts,
)

ROWS = ["first row", "", "héllo wörld 東京 🙂", 'quote "inside", comma', "multi\nline"]


def _write_all_formats(folder: Path) -> dict[str, Path]:
    folder.mkdir(exist_ok=True)
    files = {
        "jsonl": folder / "a.jsonl", "json": folder / "a.json", "csv": folder / "a.csv",
        "parquet": folder / "a.parquet",
    }  # fmt: skip
    files["jsonl"].write_text("".join(json.dumps({"id": i, "body": t}) + "\n"
                                      for i, t in enumerate(ROWS)), encoding="utf-8")
    files["json"].write_text(json.dumps([{"id": i, "body": t} for i, t in enumerate(ROWS)]))
    import csv

    with files["csv"].open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "body"])
        writer.writerows([i, t] for i, t in enumerate(ROWS))
    pq.write_table(pa.table({"id": list(range(len(ROWS))), "body": ROWS}), files["parquet"],
                   row_group_size=2)
    return files


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_read_structured_format_returns_rows_in_order(tmp_path: Path, fmt: str) -> None:
    path = _write_all_formats(tmp_path)[fmt]
    info = inspect_sources([path], ReadOptions())
    assert info.columns == ["id", "body"]
    assert info.detected_text_column == "body"
    assert list(iter_texts([path], ReadOptions(text_column="body"))) == ROWS


def test_read_txt_line_and_whole_file_modes(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"one\r\ntwo\n\nthree")
    assert list(iter_texts([path], ReadOptions())) == ["one", "two", "", "three"]
    assert list(iter_texts([path], ReadOptions(txt_mode="file"))) == ["one\ntwo\n\nthree"]


def test_read_several_files_in_order(tmp_path: Path, tiny_dataset_dir: Path) -> None:
    parquet, jsonl = tiny_dataset_dir / PARQUET_FILE, tiny_dataset_dir / JSONL_FILE
    expected = [r["text"] for r in tiny_dataset_rows()]
    texts = list(iter_texts([parquet, jsonl], ReadOptions(text_column="text")))
    assert texts == expected + expected


def test_read_bundled_play_line_per_document() -> None:
    texts = list(iter_texts([bundled_text_path()], ReadOptions()))
    assert texts[0] == "MACBETH" and len(texts) > 3000
    assert any("When shall we three meet again?" in t for t in texts)


def test_detect_text_column_prefers_known_name_else_longest_string(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"label": "a", "review": "a much longer piece of text"}\n')
    assert inspect_sources([path], ReadOptions()).detected_text_column == "review"


def test_a_csv_column_of_numbers_is_not_detected_as_text(tmp_path: Path) -> None:
    """A CSV's values are all strings, so a file without a text column had its longest number
    column detected as the text (and tokenized); now the user is asked to choose (a number
    column chosen is taken), and the longest real text still wins."""
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("id,score\n1234567,0.25\n2345678,-1e3\n")
    with pytest.raises(MissingTextColumn, match="no text column could be detected among id, "
                       "score; choose one"):
        inspect_sources([numbers], ReadOptions())
    assert inspect_sources([numbers], ReadOptions(text_column="id")).text_column == "id"
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("id,label\n123456789012,ok\n234567890123,no\n")
    assert inspect_sources([mixed], ReadOptions()).detected_text_column == "label"


BOM = b"\xef\xbb\xbf"
BOM_FILES = {
    "lines.txt": b"Hello world\r\nsecond\r\n", "rows.csv": b"text,id\r\nhello,1\r\nworld,2\r\n",
    "rows.jsonl": b'{"text": "a"}\n{"text": "b"}\n', "rows.json": b'[{"text": "a"}, {"text": "b"}]',
}  # fmt: skip
BOM_ROWS = {"lines.txt": ["Hello world", "second"], "rows.csv": ["hello", "world"],
            "rows.jsonl": ["a", "b"], "rows.json": ["a", "b"]}


@pytest.mark.parametrize("name", sorted(BOM_FILES))
def test_utf8_bom_at_the_start_of_a_file_is_dropped(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(BOM + BOM_FILES[name])
    info = inspect_sources([path], ReadOptions())
    if name != "lines.txt":
        assert info.columns[0] == "text" and info.detected_text_column == "text"
        assert inspect_sources([path], ReadOptions(text_column="text")).text_column == "text"
    texts = list(iter_texts([path], ReadOptions(text_column=info.text_column)))
    assert texts == BOM_ROWS[name]
    if name == "lines.txt":
        assert list(iter_texts([path], ReadOptions(txt_mode="file"))) == ["Hello world\nsecond"]


def test_utf8_bom_is_dropped_at_byte_0_of_each_file_only(tmp_path: Path) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_bytes(BOM + b"one\n" + BOM + b"kept inside\n")
    second.write_bytes(BOM + b"two\n")
    assert list(iter_texts([first, second], ReadOptions())) == ["one", "\ufeffkept inside", "two"]
    only_bom = tmp_path / "only-bom.jsonl"
    only_bom.write_bytes(BOM)
    with pytest.raises(EmptySource, match=r"only-bom\.jsonl"):
        inspect_sources([only_bom], ReadOptions())
    with pytest.raises(EmptySource):
        list(iter_texts([only_bom], ReadOptions()))
    bad = tmp_path / "bad.txt"  # byte offsets stay those of the file, BOM included
    bad.write_bytes(BOM + b"caf\xe9\n")
    with pytest.raises(NotUtf8) as caught:
        list(iter_texts([bad], ReadOptions()))
    assert caught.value.details["positions"][0]["byte_offset"] == 3 + 3


def test_parquet_values_starting_with_u_feff_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"  # a binary format: no BOM; a leading U+FEFF is a value's text
    pq.write_table(pa.table({"text": ["\ufeffvalue", "plain"]}), path)
    assert list(iter_texts([path], ReadOptions(text_column="text"))) == ["\ufeffvalue", "plain"]


@pytest.mark.parametrize(("value", "what"), [(["para one", "para two"], "a list"),
                                           ({"en": "hello"}, "an object"), (True, "a boolean"),
                                           (3.0, "a number")])
def test_jsonl_text_value_that_is_not_a_string_is_refused_naming_the_line(
    tmp_path: Path, value: object, what: str,
) -> None:
    path = tmp_path / "nested.jsonl"
    path.write_text(json.dumps({"text": "plain"}) + "\n" + json.dumps({"text": value}) + "\n"
                    + json.dumps({"text": None}) + "\n")
    with pytest.raises(NotText) as caught:
        list(iter_texts([path], ReadOptions(text_column="text")))
    assert caught.value.details["where"] == "line 2" and caught.value.code == "not_text"
    assert f"nested.jsonl: line 2: the column 'text' holds {what}" in caught.value.message
    with pytest.raises(NotText):  # refused by the quick look too, before any copy
        inspect_sources([path], ReadOptions(text_column="text"))
    json_file = tmp_path / "nested.json"
    json_file.write_text(json.dumps([{"text": "plain"}, {"text": value}]))
    with pytest.raises(NotText, match="record 1"):
        list(iter_texts([json_file], ReadOptions(text_column="text")))


def test_parquet_text_column_of_lists_or_numbers_is_refused(tmp_path: Path) -> None:
    lists, floats = tmp_path / "lists.parquet", tmp_path / "floats.parquet"
    pq.write_table(pa.table({"text": pa.array([["a", "b"], ["c"], None]), "id": [1, 2, 3]}),
                   lists)
    pq.write_table(pa.table({"text": pa.array([1.5, float("nan"), None])}), floats)
    for path in (lists, floats):
        with pytest.raises(NotText, match=r"column 'text' holds values of type"):
            list(iter_texts([path], ReadOptions(text_column="text")))
        with pytest.raises(NotText):
            inspect_sources([path], ReadOptions(text_column="text"))
    nulls = tmp_path / "nulls.parquet"  # null values are empty rows, as before
    pq.write_table(pa.table({"text": pa.array(["a", None], type=pa.large_string())}), nulls)
    assert list(iter_texts([nulls], ReadOptions(text_column="text"))) == ["a", ""]


def test_detection_skips_a_well_known_name_whose_values_are_not_strings(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"text": ["a", "b"], "summary": "the real text here"}) + "\n")
    assert inspect_sources([path], ReadOptions()).detected_text_column == "summary"
    only_lists = tmp_path / "lists.parquet"
    pq.write_table(pa.table({"text": pa.array([["a", "b"]]), "id": [1]}), only_lists)
    with pytest.raises(MissingTextColumn, match="no text column could be detected"):
        inspect_sources([only_lists], ReadOptions())


def test_non_utf8_strict_reports_count_and_positions(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("ok\ncaf\xe9 cr\xe8me\nfine\n\xff\n".encode("latin-1"))
    with pytest.raises(NotUtf8) as caught:
        list(iter_texts([path], ReadOptions()))
    details = caught.value.details
    assert details["file"] == "latin1.txt"
    assert details["invalid_sequences"] == 3
    assert [p["line"] for p in details["positions"]] == [2, 2, 4]
    assert details["positions"][0]["byte_offset"] == 3 + 3  # "ok\n" + "caf"
    assert "line 2" in caught.value.message and "replace" in caught.value.message


def test_non_utf8_replace_policy_substitutes_and_reports(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9\n".encode("latin-1"))
    report = DecodeReport()
    assert list(iter_texts([path], ReadOptions(decode="replace"), report)) == ["caf\ufffd"]
    assert report.invalid_bytes == 1 and report.positions[0]["line"] == 1


def test_malformed_jsonl_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a"}\n{"text": "b"}\n{"text": "c"\n')
    with pytest.raises(MalformedRecord) as caught:
        list(iter_texts([path], ReadOptions(text_column="text")))
    assert caught.value.details["line"] == 3 and "bad.jsonl: line 3" in caught.value.message


def test_csv_without_the_column_lists_columns(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("id,body\n1,hello\n")
    with pytest.raises(MissingTextColumn) as caught:
        inspect_sources([path], ReadOptions(text_column="text"))
    assert caught.value.details["columns"] == ["id", "body"]
    with pytest.raises(MissingTextColumn):
        list(iter_texts([path], ReadOptions(text_column="text")))


def test_empty_file_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    with pytest.raises(EmptySource, match=r"empty\.jsonl"):
        inspect_sources([path], ReadOptions())
    with pytest.raises(EmptySource):
        list(iter_texts([path], ReadOptions()))


def test_parquet_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fake.parquet"
    path.write_text("id,text\n1,hello\n")
    with pytest.raises(NotParquet, match=r"fake\.parquet"):
        inspect_sources([path], ReadOptions())


def test_huge_line_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "bomb.txt"
    with path.open("wb") as out:
        out.write(b"short line\n")
        out.write(b"x" * (3 * 1024 * 1024))  # one 3 MiB line, limit 1 MiB
    with pytest.raises(RecordTooLarge) as caught:
        list(iter_texts([path], ReadOptions(max_record_bytes=1024 * 1024)))
    assert caught.value.details["line"] == 2


PARQUET_STRING_TYPES = [pa.string(), pa.large_string(), pa.string_view(),
                        pa.dictionary(pa.int32(), pa.string())]


@pytest.mark.parametrize("arrow_type", PARQUET_STRING_TYPES, ids=str)
def test_parquet_value_over_the_record_limit_is_refused_naming_the_row(
    tmp_path: Path, arrow_type: pa.DataType,
) -> None:
    path = tmp_path / "long.parquet"  # row 301 is in the second batch of 256 rows
    values = [f"row {n}" for n in range(1, 301)] + ["x" * 5000, None]
    pq.write_table(pa.table({"text": pa.array(values).cast(arrow_type)}), path)
    with pytest.raises(RecordTooLarge) as caught:
        list(iter_texts([path], ReadOptions(text_column="text", max_record_bytes=4096)))
    assert caught.value.code == "record_too_large"
    assert caught.value.details == {"file": "long.parquet", "row": 301, "limit_bytes": 4096}
    assert "long.parquet: row 301 is longer than 4,096 bytes" in caught.value.message
    assert "max_record_bytes" in caught.value.message
    read = list(iter_texts([path], ReadOptions(text_column="text", max_record_bytes=5000)))
    assert read == [*values[:-1], ""]  # at the limit: read, as a line of that length is


def test_parquet_inspection_refuses_a_long_value_in_its_first_rows(tmp_path: Path) -> None:
    path = tmp_path / "long.parquet"
    pq.write_table(pa.table({"id": [1, 2], "body": ["short", "y" * 5000]}), path)
    with pytest.raises(RecordTooLarge) as caught:
        inspect_sources([path], ReadOptions(max_record_bytes=4096))
    assert caught.value.details["row"] == 2
    assert inspect_sources([path], ReadOptions(max_record_bytes=5000)).text_column == "body"


def test_parquet_batch_of_long_values_reads_every_value_in_order(tmp_path: Path) -> None:
    path = tmp_path / "long.parquet"  # each value under the limit, a batch of them far over it
    values = [str(n % 10) * (1000 + n) for n in range(600)]
    pq.write_table(pa.table({"text": values}), path)
    assert list(iter_texts([path], ReadOptions(text_column="text",
                                               max_record_bytes=4096))) == values


def test_unsupported_extension_lists_supported(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(UnsupportedFormat, match=r"\.jsonl"):
        inspect_sources([path], ReadOptions())
