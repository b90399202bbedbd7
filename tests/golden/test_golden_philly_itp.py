"""Golden numbers for the Philly (Pollux, DIR-LAB) and ITP readers.

The first half reads the slices shipped in `traces/data` and always runs; the second half
reads the full public traces under the shared folder and is skipped when they are absent.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import pytest

import traces
from traces.model import Job
from traces.readers.base import TraceData
from traces.readers.itp import ItpReader
from traces.readers.philly_dirlab import PhillyDirlabReader
from traces.readers.philly_pollux import PhillyPolluxReader

DATA = Path(traces.__file__).resolve().parent / "data"
STATUS_NOTE = (
    "status is unknown for every job: this file holds only jobs that ended with Philly status Pass "
    "(the Pollux artifact left out failed and killed jobs)"
)
GROUP_NOTE = "group is the cluster, taken from the file name"


def row(job: Job) -> tuple[object, ...]:
    return (job.job_id, job.submit_s, job.duration_s, job.num_gpus, job.group, job.user, job.status.value)


def origin_note(origin: str) -> str:
    return (
        "timestamps are read as a uniform clock without daylight-saving jumps (the trace's periodic "
        "jobs show no repeated hour when US-Pacific DST ended on 2017-11-05); submit_s counts seconds "
        f"from the earliest submit, {origin} (trace local time)"
    )


# ----- shipped slices (always run) ----------------------------------------------------

# cluster05 has 3,629 jobs. The staging notes say 3,628 because the file has no final
# newline, so `wc -l` counts one line fewer than there are rows (header + 3,629 rows).
ITP05_ROWS = [
    ("930dd644-e119-8ce9-0935-e6148a7c7bed", 9940.0, 16235.0, 1, "cluster05", None, "unknown"),
    ("420216d7-80ad-3e9c-ef59-06b55564f88a", 101854.0, 3470.0, 8, "cluster05", None, "unknown"),
    ("26537783-4557-15bc-6329-bfd9d5a19fbc", 5130398.0, 9274.0, 1, "cluster05", None, "unknown"),
]


def check_itp_cluster05(data: TraceData, group: str) -> None:
    wl = data.workload
    assert len(wl) == 3629
    assert (data.report.rows_read, data.report.num_skipped) == (3629, 0)
    assert data.report.notes == [GROUP_NOTE]
    assert wl.span_s == 5_120_458.0
    assert wl.group.categories == (group,)
    assert int((wl.num_gpus == 8).sum()) == 77
    assert float(wl.gpu_s.sum()) == 51_491_311.0
    expected = [(*r[:4], group, *r[5:]) for r in ITP05_ROWS]
    assert [row(wl.job(str(r[0]))) for r in expected] == expected
    assert row(wl[0]) == expected[0]
    assert row(wl[-1]) == expected[-1]


def test_shipped_itp_cluster05() -> None:
    # The group is the file name, so the shipped copy's jobs are in group "itp-cluster05".
    check_itp_cluster05(ItpReader().read([DATA / "itp-cluster05.csv"]), "itp-cluster05")


def test_shipped_philly_pollux_slice() -> None:
    data = PhillyPolluxReader().read([DATA / "philly-pollux-slice.csv"])
    wl = data.workload
    assert len(wl) == 2000
    assert data.report.num_skipped == 0
    assert data.report.notes == [
        origin_note("2017-09-07 09:57:50"),
        STATUS_NOTE,
        "rows submitted earlier than the row before them: 1,056 (jobs were sorted by submit time)",
    ]
    assert wl.span_s == 2_754_245.0
    assert len(wl.group.categories) == 11
    assert row(wl[0]) == ("pollux-1985", 0.0, 2643038.0, 1, "6214e9", None, "unknown")
    assert row(wl[-1]) == ("pollux-1", 2754245.0, 66.0, 1, "11cb48", None, "unknown")
    assert row(wl.job("pollux-2000")) == ("pollux-2000", 2_618_027.0, 19646.0, 4, "7f04ca", None, "unknown")


def test_shipped_philly_dirlab_slice() -> None:
    data = PhillyDirlabReader().read([DATA / "philly-dirlab-slice.csv"])
    wl = data.workload
    assert len(wl) == 2000
    assert data.report.num_skipped == 0
    assert wl.span_s == 4_213_039.0
    assert Counter(wl.status.values()) == {"completed": 1282, "killed": 379, "failed": 339}
    assert len(wl.user.categories) == 66
    assert row(wl[0]) == ("dirlab-0", 0.0, 1389243.0, 1, None, "user1", "killed")
    assert row(wl.job("dirlab-1")) == ("dirlab-1", 395146.0, 14405.0, 8, None, "user2", "failed")
    assert row(wl[-1]) == ("dirlab-1999", 4213039.0, 14408.0, 8, None, "user22", "completed")


def test_shipped_files_match_the_checksums_in_source_md() -> None:
    source = (DATA / "SOURCE.md").read_text(encoding="utf-8")
    for name in ("itp-cluster05.csv", "philly-pollux-slice.csv", "philly-dirlab-slice.csv"):
        section = source.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        pinned = re.search(r"sha256\s+`([0-9a-f]{64})`", section)
        assert pinned is not None, name
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == pinned.group(1), name
    for licence in ("LICENSE-microsoft-itp.txt", "LICENSE-philly-CC-BY-4.0.txt"):
        assert licence in source
    assert "MIT License" in (DATA / "LICENSE-microsoft-itp.txt").read_text(encoding="utf-8")
    assert "Attribution 4.0 International" in (DATA / "LICENSE-philly-CC-BY-4.0.txt").read_text(encoding="utf-8-sig")


# ----- full public traces (need the shared folder) ------------------------------------


@pytest.fixture(scope="module")
def pollux(shared_traces: Path) -> TraceData:
    return PhillyPolluxReader().read([shared_traces / "philly-pollux" / "philly.csv"])


def test_pollux_full(pollux: TraceData) -> None:
    wl = pollux.workload
    assert len(wl) == 82_247
    assert (pollux.report.rows_read, pollux.report.num_skipped) == (82_247, 0)
    assert pollux.report.notes == [
        origin_note("2017-09-04 10:30:41"),
        STATUS_NOTE,
        "rows submitted earlier than the row before them: 44,878 (jobs were sorted by submit time)",
    ]
    # 2017-09-04 10:30:41 .. 2017-12-22 08:02:11 on the file's uniform clock: 108 d 21:31:30.
    assert wl.span_s == 9_408_690.0
    assert len(wl.group.categories) == 15
    assert Counter(wl.group.values()).most_common(3) == [("6214e9", 41226), ("11cb48", 16091), ("6c71a0", 9953)]
    assert float(wl.gpu_s.sum()) == 3_521_082_502.0
    assert row(wl[0]) == ("pollux-31567", 0.0, 2240194.0, 8, "7f04ca", None, "unknown")
    assert row(wl[-1]) == ("pollux-62254", 9408690.0, 64.0, 1, "11cb48", None, "unknown")
    assert row(wl.job("pollux-23508")) == ("pollux-23508", 8522840.0, 4322.0, 128, "ee9e8c", None, "unknown")
    # 2017-11-05 01:xx, the hour US-Pacific repeats when DST ends, is not doubled: VC 11cb48's
    # 10-minute jobs run six times in it (01:02:10 .. 01:52:10) and 02:02:11 follows 01:52:10
    # by 601 s, not by an extra hour.
    assert row(wl.job("pollux-26023")) == ("pollux-26023", 5324489.0, 1515.0, 1, "11cb48", None, "unknown")
    assert row(wl.job("pollux-26027")) == ("pollux-26027", 5325689.0, 76.0, 1, "11cb48", None, "unknown")
    assert row(wl.job("pollux-26025")) == ("pollux-26025", 5326290.0, 72.0, 1, "11cb48", None, "unknown")
    hourly = [wl.job(f"pollux-{i}").submit_s for i in (26033, 26032, 26030, 26023, 26029, 26027, 26025)]
    assert [b - a for a, b in zip(hourly, hourly[1:], strict=False)] == [600.0, 600.0, 600.0, 600.0, 600.0, 601.0]


def test_pollux_slice_is_the_full_trace_shifted(pollux: TraceData) -> None:
    part = PhillyPolluxReader().read([DATA / "philly-pollux-slice.csv"]).workload
    full = pollux.workload
    shift = full.job("pollux-1985").submit_s
    assert [row(j) for j in part] == [
        row(Job(j.job_id, j.submit_s - shift, j.duration_s, j.num_gpus, group=j.group))
        for j in (full.job(i) for i in part.job_id.tolist())
    ]


def test_dirlab_full(shared_traces: Path) -> None:
    data = PhillyDirlabReader().read([shared_traces / "philly-dirlab-15k" / "philly_data_training.csv"])
    wl = data.workload
    assert len(wl) == 15_000
    assert (data.report.rows_read, data.report.num_skipped) == (15_000, 0)
    assert wl.span_s == 4_977_039.0
    assert Counter(wl.status.values()) == {"completed": 8538, "failed": 4509, "killed": 1953}
    assert len(wl.user.categories) == 136
    assert float(wl.gpu_s.sum()) == 2_756_749_794.0
    assert row(wl[0]) == ("dirlab-0", 0.0, 1389243.0, 1, None, "user1", "killed")
    assert row(wl.job("dirlab-13424")) == ("dirlab-13424", 4892312.0, 82.0, 48, None, "user54", "killed")
    assert row(wl[-1]) == ("dirlab-14999", 4977039.0, 3995.0, 1, None, "user109", "completed")


def test_itp_cluster05_full(shared_traces: Path) -> None:
    path = shared_traces / "microsoft-itp-2021" / "cluster05.csv"
    check_itp_cluster05(ItpReader().read([path]), "cluster05")
    assert (DATA / "itp-cluster05.csv").read_bytes() == path.read_bytes()


def test_itp_all_clusters_at_once(shared_traces: Path) -> None:
    paths = sorted((shared_traces / "microsoft-itp-2021").glob("cluster*.csv"))
    data = ItpReader().read(paths)
    wl = data.workload
    # 69,351 jobs, as the upstream README says: every file lacks a final newline, so line
    # counts (and the staging notes' 69,341) are one short per file.
    assert len(wl) == 69_351
    assert (data.report.rows_read, data.report.num_skipped) == (69_351, 0)
    assert data.report.notes == [GROUP_NOTE]  # no id is shared between clusters
    assert Counter(wl.group.values()) == {
        "cluster01": 1595, "cluster02": 5778, "cluster03": 3011, "cluster04": 15802, "cluster05": 3629,
        "cluster06": 2396, "cluster07": 12699, "cluster08": 13047, "cluster09": 11134, "cluster10": 260,
    }
    assert Counter(wl.num_gpus.tolist()) == {1: 57682, 8: 7009, 4: 2371, 2: 1483, 16: 381, 32: 354, 64: 71}
    assert wl.span_s == 5_173_337.0
    assert row(wl[0]) == ("a11b4fc9-8f06-7093-2b93-bcb89acf0e7e", 1999.0, 13423.0, 1, "cluster07", None, "unknown")
    assert row(wl[-1]) == ("dd7c5485-6c70-7048-5093-4c874f8ccb0b", 5175336.0, 3738.0, 8, "cluster03", None, "unknown")
    assert row(wl.job(ITP05_ROWS[1][0])) == ITP05_ROWS[1]


@pytest.mark.parametrize(
    ("shipped", "shared"),
    [
        ("philly-pollux-slice.csv", "philly-pollux/philly.csv"),
        ("philly-dirlab-slice.csv", "philly-dirlab-15k/philly_data_training.csv"),
    ],
)
def test_shipped_slices_are_the_first_2000_rows(shared_traces: Path, shipped: str, shared: str) -> None:
    part = (DATA / shipped).read_bytes()
    assert (shared_traces / shared).read_bytes().startswith(part)
    assert part.count(b"\n") == 2001 and part.endswith(b"\n")
