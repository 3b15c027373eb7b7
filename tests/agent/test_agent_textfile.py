"""The textfile collector: node_exporter's semantics for ``*.prom`` files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from microrack.agent import CollectorOptions, PointSink
from microrack.agent._collectors.textfile import TextfileCollector, TextFormatError, parse_text
from microrack.exposition import render
from microrack.sensors import MemoryFS


def collect(directory: Path) -> tuple[PointSink, dict[tuple, float]]:
    c = TextfileCollector(MemoryFS({}), CollectorOptions(textfile_directory=str(directory)))
    out = PointSink({})
    c.collect(out)
    return out, {(p.key.name, *p.key.labels): p.value for p in out.points}


def test_files_merge_with_mtime_and_no_error(tmp_path: Path):
    (tmp_path / "smart.prom").write_text(
        "# HELP smartctl_temperature_celsius Drive temperature.\n"
        "# TYPE smartctl_temperature_celsius gauge\n"
        'smartctl_temperature_celsius{device="sda"} 38\n'
    )
    (tmp_path / "ups.prom").write_text(
        "ups_load_ratio 0.25\n# TYPE smartctl_temperature_celsius "
        'gauge\nsmartctl_temperature_celsius{device="sdb"} 41\n'
    )
    (tmp_path / "notes.txt").write_text("not read\n")
    os.utime(tmp_path / "smart.prom", (1_700_000_000.7, 1_700_000_000.7))
    out, v = collect(tmp_path)
    assert v[("smartctl_temperature_celsius", ("device", "sda"))] == 38
    assert v[("smartctl_temperature_celsius", ("device", "sdb"))] == 41
    assert v[("ups_load_ratio",)] == 0.25
    assert v[("node_textfile_scrape_error",)] == 0
    assert (
        v[("node_textfile_mtime_seconds", ("file", str(tmp_path / "smart.prom")))] == 1_700_000_000
    )
    assert out.help["ups_load_ratio"] == f"Metric read from {tmp_path / 'ups.prom'}"
    assert out.help["smartctl_temperature_celsius"] == "Drive temperature."


@pytest.mark.parametrize(
    "bad",
    [
        'metric{a="1"} 1 1700000000000\n',  # client-side timestamp
        'metric{a="1" 1\n',  # unterminated labels
        "metric one\n",  # not a number
        "# TYPE metric bogus\nmetric 1\n",
        "metric 1\nmetric 2\n",  # the same series twice
        "metric 1\n# TYPE metric gauge\n",  # TYPE after samples
        "9metric 1\n",
        "\xff\xfe",
    ],
)
def test_a_bad_file_is_skipped_whole_and_reported(tmp_path: Path, bad: str):
    (tmp_path / "good.prom").write_text("good_metric 1\n")
    (tmp_path / "bad.prom").write_bytes(bad.encode("latin-1"))
    _, v = collect(tmp_path)
    assert v[("good_metric",)] == 1
    assert v[("node_textfile_scrape_error",)] == 1
    assert not [k for k in v if k[0] == "metric"]
    files = {dict(k[1:])["file"] for k in v if k[0] == "node_textfile_mtime_seconds"}
    assert files == {str(tmp_path / "good.prom")}


def test_conflicting_type_across_files_skips_the_later_file(tmp_path: Path):
    (tmp_path / "a.prom").write_text("# TYPE jobs counter\njobs 3\n")
    (tmp_path / "b.prom").write_text('# TYPE jobs gauge\njobs{x="1"} 4\n')
    _, v = collect(tmp_path)
    assert v[("jobs",)] == 3 and ("jobs", ("x", "1")) not in v
    assert v[("node_textfile_scrape_error",)] == 1


def test_missing_directory_is_an_error_and_no_directory_is_not(tmp_path: Path):
    _, v = collect(tmp_path / "nope")
    assert v == {("node_textfile_scrape_error",): 1}
    c = TextfileCollector(MemoryFS({}), CollectorOptions())
    out = PointSink({})
    c.collect(out)
    assert [(p.key.name, p.value) for p in out.points] == [("node_textfile_scrape_error", 0)]


def test_unreadable_file_is_an_error(tmp_path: Path):
    if os.geteuid() == 0:
        os.symlink("/proc/self/mem-does-not-exist", tmp_path / "dangling.prom")
    else:
        p = tmp_path / "secret.prom"
        p.write_text("x 1\n")
        p.chmod(0)
    _, v = collect(tmp_path)
    assert v[("node_textfile_scrape_error",)] == 1


def test_histograms_and_summaries_pass_through_whole(tmp_path: Path):
    (tmp_path / "h.prom").write_text(
        "# HELP backup_seconds How long backups took.\n# TYPE backup_seconds histogram\n"
        'backup_seconds_bucket{le="60"} 2\nbackup_seconds_bucket{le="+Inf"} 3\n'
        "backup_seconds_sum 200\nbackup_seconds_count 3\n"
    )
    out, v = collect(tmp_path)
    assert not [k for k in v if k[0].startswith("backup")]
    text = render(out.points, out.help) + "".join(out.raw)
    assert "# TYPE backup_seconds histogram\n" in text
    assert 'backup_seconds_bucket{le="+Inf"} 3\n' in text
    assert "backup_seconds_count 3\n" in text


def test_parser_escapes_and_special_values():
    fams = parse_text(
        '# HELP m a \\\\ b\\nc\nm{path="C:\\\\x",q="say \\"hi\\""} NaN\nm{path="y"} +Inf\n'
    )
    m = fams["m"]
    assert m.help == "a \\ b\nc"
    assert m.samples[0][1] == (("path", "C:\\x"), ("q", 'say "hi"'))
    assert m.samples[1][2] == float("inf")
    with pytest.raises(TextFormatError, match="line 1"):
        parse_text('m{a="1",a="2"} 1\n')


def test_help_is_read_as_expfmt_reads_it():
    """Trailing blanks are part of the text; blank text is no HELP; only \\\\ and \\n escape."""
    fams = parse_text(
        "# HELP a ends in a blank \na 1\n# HELP b \t \nb 2\n#\tHELP\tc x\\\\n\\ny\nc 3\n"
    )
    assert fams["a"].help == "ends in a blank "
    assert fams["b"].help is None
    assert fams["c"].help == "x\\n\ny"
    for bad in ("# HELP d a \\t b\nd 1\n", "# HELP d trailing \\\nd 1\n"):
        with pytest.raises(TextFormatError, match="line 1: invalid escape"):
            parse_text(bad)
