"""``cellclr download`` against a real HTTP server on 127.0.0.1 that supports ``Range`` and injects faults.

The served plates are tiny zips built here from real metadata rows (exact BBBC021 file names, one Week1 plate
with the ``Week1_<date>_`` prefix and one Week4 plate without), so the tests exercise the true naming, layout
and benchmark selection, not a synthetic convention.
"""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from cellclr_lib import cli
from cellclr_lib.data import download as dl
from cellclr_lib.data import http
from cellclr_lib.data.http import RemoteFileMissing, fetch_file, part_path
from cellclr_lib.data.metadata import IMAGE_CSV_NAME, MOA_CSV_NAME, shipped_path
from cellclr_lib.errors import CellclrError

pytestmark = pytest.mark.timeout(60)

W1, W4 = "Week1_22123", "Week4_27481"
#: wells served per plate, and which of them the benchmark keeps (DMSO, annotated treatments, taxol's D05)
WELLS = {W1: ["B02", "B03", "B05", "B11", "D05"], W4: ["B02", "B03", "B05", "B11"]}
BENCHMARK_WELLS = {W1: {"B02", "B03", "D05"}, W4: {"B02", "B05"}}
CHANNEL_COLUMNS = ["Image_FileName_DAPI", "Image_FileName_Tubulin", "Image_FileName_Actin"]
FAST = {"retries": 2, "backoff": 0.0, "timeout": 5.0, "progress": False}


@dataclass
class Served:
    """What the fake server serves and how it misbehaves; every request is logged as (name, Range header)."""

    files: dict[str, bytes] = field(default_factory=dict)
    #: name -> bodies for the 1st, 2nd, ... request (the last one repeats); overrides ``files``
    versions: dict[str, list[bytes]] = field(default_factory=dict)
    #: name -> statuses to answer before serving normally (e.g. [503, 500])
    statuses: dict[str, list[int]] = field(default_factory=dict)
    #: name -> close the connection after this many body bytes, on the first request only
    drop_after: dict[str, int] = field(default_factory=dict)
    #: a broken server: answer 200 with the whole body to Range requests and drop on every request
    broken: bool = False
    #: name -> close the connection after this many body bytes on *every* request (Range honoured)
    drop_every: dict[str, int] = field(default_factory=dict)
    #: names served without Content-Length (the end of the body is the end of the connection)
    unsized: set[str] = field(default_factory=set)
    log: list[tuple[str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_for(self, name: str) -> list[str | None]:
        return [rng for n, rng in self.log if n == name]


class Handler(BaseHTTPRequestHandler):
    served: Served

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        state = self.server.served  # type: ignore[attr-defined]
        name = self.path.removeprefix("/bbbc/")
        with state.lock:
            count = len(state.requests_for(name))
            state.log.append((name, self.headers.get("Range")))
            pending = state.statuses.get(name, [])
            status = pending.pop(0) if pending else None
        if status is not None:
            self.send_error(status)
            return
        if name in state.versions:
            body = state.versions[name][min(count, len(state.versions[name]) - 1)]
        elif name in state.files:
            body = state.files[name]
        else:
            self.send_error(404)
            return
        start, code = 0, 200
        if (rng := self.headers.get("Range")) and not state.broken:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            code = 206
        self.send_response(code)
        if name not in state.unsized:
            self.send_header("Content-Length", str(len(body) - start))
        if code == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        chunk = body[start:]
        if (count == 0 or state.broken) and name in state.drop_after:
            chunk = chunk[: state.drop_after[name]]
            self.close_connection = True
        if name in state.drop_every:
            chunk = chunk[: state.drop_every[name]]
            self.close_connection = True
        self.wfile.write(chunk)
        self.wfile.flush()


@pytest.fixture
def server() -> Iterator[tuple[Served, str]]:
    """A threaded HTTP server on an ephemeral loopback port, stopped after the test."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.served = Served()  # type: ignore[attr-defined]
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.served, f"http://127.0.0.1:{httpd.server_address[1]}/bbbc/"  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _rows() -> pd.DataFrame:
    """Real image-CSV rows (sites 1-2) of the served wells, as the Broad's columns."""
    table = pd.read_csv(shipped_path(IMAGE_CSV_NAME), dtype=str, keep_default_na=False)
    site = table["Image_FileName_DAPI"].str.extract(r"_s(\d)_w", expand=False).astype(int)
    keep = pd.Series(False, index=table.index)
    for plate, wells in WELLS.items():
        keep |= (table["Image_Metadata_Plate_DAPI"] == plate) & table["Image_Metadata_Well_DAPI"].isin(wells)
    return table[keep & (site <= 2)].reset_index(drop=True)


def _tiff(value: int) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.full((4, 5), value, dtype=np.uint16))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def dataset() -> dict:
    """The CSVs, per-plate TIFF bytes by file name, and zips (Week1 in a plate folder, Week4 flat)."""
    rows = _rows()
    tiffs: dict[str, dict[str, bytes]] = {W1: {}, W4: {}}
    for i, row in rows.iterrows():
        for c, column in enumerate(CHANNEL_COLUMNS):
            tiffs[row["Image_Metadata_Plate_DAPI"]][row[column]] = _tiff(100 * int(i) + c)
    zips = {}
    for plate, files in tiffs.items():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            folder = f"{plate}/" if plate == W1 else ""
            for name, data in files.items():
                archive.writestr(folder + name, data)
            archive.writestr(folder + "Thumbs.db", b"not a field")
        zips[plate] = buffer.getvalue()
    return {
        "rows": rows,
        "tiffs": tiffs,
        "zips": zips,
        "image_csv": rows.to_csv(index=False).encode(),
        "moa_csv": shipped_path(MOA_CSV_NAME).read_bytes(),
    }


def _serve_all(served: Served, dataset: dict) -> None:
    served.files[IMAGE_CSV_NAME] = dataset["image_csv"]
    served.files[MOA_CSV_NAME] = dataset["moa_csv"]
    for plate, data in dataset["zips"].items():
        served.files[dl.plate_zip_name(plate)] = data


def _corrupt(data: bytes) -> bytes:
    """Flip bytes inside the first member's data, so only its CRC-32 can tell."""
    info = zipfile.ZipFile(io.BytesIO(data)).infolist()[0]
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 50
    broken = bytearray(data)
    broken[start : start + 4] = bytes(b ^ 0xFF for b in broken[start : start + 4])
    return bytes(broken)


def _expected(dataset: dict, plate: str, wells: set[str] | None) -> dict[str, bytes]:
    """ROOT-relative path -> bytes of every file of ``plate`` in ``wells`` (None: all served wells)."""
    rows = dataset["rows"]
    rows = rows[rows["Image_Metadata_Plate_DAPI"] == plate]
    if wells is not None:
        rows = rows[rows["Image_Metadata_Well_DAPI"].isin(wells)]
    return {
        f"{row['Image_PathName_DAPI']}/{row[column]}": dataset["tiffs"][plate][row[column]]
        for _, row in rows.iterrows()
        for column in CHANNEL_COLUMNS
    }


def _tifs(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.tif")}


def test_benchmark_fields_land_in_the_raw_layout_and_reruns_stay_offline(server, dataset, tmp_path):
    served, url = server
    _serve_all(served, dataset)
    report = dl.download_plates(tmp_path, [W1, W4], base_url=url, **FAST)

    expected = _expected(dataset, W1, BENCHMARK_WELLS[W1]) | _expected(dataset, W4, BENCHMARK_WELLS[W4])
    assert _tifs(tmp_path) == expected  # right bytes at ROOT/WeekN/<plate>/<file>, nothing else
    assert all(p.startswith(("Week1/Week1_22123/Week1_", "Week4/Week4_27481/")) for p in expected)
    assert report.plates_done == [W1, W4] and report.files_extracted == len(expected) == (3 + 2) * 2 * 3
    assert (tmp_path / IMAGE_CSV_NAME).read_bytes() == dataset["image_csv"]
    assert (tmp_path / MOA_CSV_NAME).read_bytes() == dataset["moa_csv"]
    assert (tmp_path / dl.ZIP_DIR / dl.plate_zip_name(W1)).read_bytes() == dataset["zips"][W1]
    assert (tmp_path / dl.DONE_DIR / f"{W1}.json").is_file()

    served.log.clear()
    again = dl.download_plates(tmp_path, [W1, W4], base_url=url, **FAST)
    assert served.log == []
    assert again.plates_skipped == [W1, W4] and again.files_extracted == 0

    # every field: the kept zip is reused (no zip request), the missing fields are added
    served.log.clear()
    everything = dl.download_plates(tmp_path, [W1], fields="all", base_url=url, **FAST)
    assert served.log == []
    assert everything.files_extracted == len(_expected(dataset, W1, None)) - len(
        _expected(dataset, W1, BENCHMARK_WELLS[W1])
    )
    assert _tifs(tmp_path) == _expected(dataset, W1, None) | _expected(dataset, W4, BENCHMARK_WELLS[W4])


def test_dropped_connection_resumes_with_range(server, dataset, tmp_path, monkeypatch):
    served, url = server
    monkeypatch.setattr(
        http, "CHUNK_BYTES", 256
    )  # a drop loses the partly read chunk; keep it smaller than 1000
    _serve_all(served, dataset)
    name = dl.plate_zip_name(W1)
    served.drop_after[name] = 1000
    dl.download_plates(tmp_path, [W1], base_url=url, **FAST)

    ranges = served.requests_for(name)
    assert len(ranges) == 2 and ranges[0] is None
    assert ranges[1] is not None and 0 < int(ranges[1].removeprefix("bytes=").rstrip("-")) <= 1000
    assert (tmp_path / dl.ZIP_DIR / name).read_bytes() == dataset["zips"][W1]
    assert _tifs(tmp_path) == _expected(dataset, W1, BENCHMARK_WELLS[W1])


def test_leftover_part_file_is_resumed_not_restarted(server, tmp_path):
    served, url = server
    payload = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    served.files["blob.bin"] = payload
    dest = tmp_path / "blob.bin"
    part_path(dest).write_bytes(payload[:123_456])

    result = fetch_file(url + "blob.bin", dest, **FAST)
    assert served.requests_for("blob.bin") == ["bytes=123456-"]
    assert dest.read_bytes() == payload and result.bytes_transferred == len(payload) - 123_456
    assert not part_path(dest).exists()


def test_server_ignoring_range_and_dropping_runs_out_of_retries(server, tmp_path, monkeypatch):
    served, url = server
    monkeypatch.setattr(http, "CHUNK_BYTES", 256)
    served.files["blob.bin"] = bytes(range(256)) * 20
    served.drop_after["blob.bin"] = 1000
    served.broken = True
    with pytest.raises(CellclrError, match="failed after 2 retries"):
        fetch_file(url + "blob.bin", tmp_path / "blob.bin", **FAST)
    ranges = served.requests_for("blob.bin")
    # every byte received before the drop is kept (read1), none of the re-sent bytes count as progress
    assert len(ranges) == 4 and ranges[0] is None and all(r == "bytes=1000-" for r in ranges[1:])
    assert part_path(tmp_path / "blob.bin").stat().st_size == 1000  # kept for a later run


def test_server_errors_are_retried_then_reported(server, tmp_path):
    served, url = server
    served.files["blob.bin"] = b"x" * 1000
    served.statuses["blob.bin"] = [503, 500]
    assert fetch_file(url + "blob.bin", tmp_path / "a.bin", **FAST).path.read_bytes() == b"x" * 1000
    assert len(served.requests_for("blob.bin")) == 3

    served.log.clear()
    served.statuses["blob.bin"] = [503] * 10
    with pytest.raises(CellclrError, match=r"blob\.bin failed after 2 retries"):
        fetch_file(url + "blob.bin", tmp_path / "b.bin", **FAST)
    assert len(served.requests_for("blob.bin")) == 3  # first try + 2 retries, then stop


def test_corrupt_zip_is_fetched_again_once(server, dataset, tmp_path):
    served, url = server
    _serve_all(served, dataset)
    name = dl.plate_zip_name(W1)
    served.versions[name] = [_corrupt(dataset["zips"][W1]), dataset["zips"][W1]]
    dl.download_plates(tmp_path, [W1], base_url=url, **FAST)
    assert served.requests_for(name) == [None, None]  # the second copy is fetched from scratch
    assert _tifs(tmp_path) == _expected(dataset, W1, BENCHMARK_WELLS[W1])


def test_zip_corrupt_twice_is_a_clear_error(server, dataset, tmp_path):
    served, url = server
    _serve_all(served, dataset)
    name = dl.plate_zip_name(W1)
    served.versions[name] = [_corrupt(dataset["zips"][W1])]
    with pytest.raises(CellclrError, match="corrupt twice") as err:
        dl.download_plates(tmp_path, [W1], base_url=url, **FAST)
    assert W1 in str(err.value) and url + name in str(err.value) and "CRC" in str(err.value)
    assert len(served.requests_for(name)) == 2
    assert not list(tmp_path.rglob("*.zip*")) and not (tmp_path / dl.DONE_DIR / f"{W1}.json").exists()


def test_missing_plate_zip_fails_at_once_naming_plate_and_url(server, dataset, tmp_path):
    served, url = server
    _serve_all(served, dataset)
    del served.files[dl.plate_zip_name(W4)]
    with pytest.raises(RemoteFileMissing, match="HTTP 404") as err:
        dl.download_plates(tmp_path, [W4], base_url=url, **FAST)
    assert f"plate {W4}" in str(err.value) and url + dl.plate_zip_name(W4) in str(err.value)
    assert len(served.requests_for(dl.plate_zip_name(W4))) == 1  # no retries


def test_delete_zips_leaves_only_the_fields(server, dataset, tmp_path):
    served, url = server
    _serve_all(served, dataset)
    report = dl.download_plates(tmp_path, None, base_url=url, delete_zips=True, **FAST)
    assert report.zips_deleted == 2 and report.plates_done == [W1, W4]
    assert not [p for p in tmp_path.rglob("*") if ".zip" in p.name]
    assert len(_tifs(tmp_path)) == report.files_extracted == 30


def test_html_page_instead_of_csv_is_rejected_and_removed(server, tmp_path):
    served, url = server
    served.files[IMAGE_CSV_NAME] = b"<html><body>Sign in</body></html>\n"
    served.files[MOA_CSV_NAME] = shipped_path(MOA_CSV_NAME).read_bytes()
    with pytest.raises(CellclrError, match="not the expected table"):
        dl.download_metadata(tmp_path, base_url=url, **FAST)
    assert not (tmp_path / IMAGE_CSV_NAME).exists()


def test_cli_metadata_only_dry_run_and_errors(server, dataset, tmp_path, capsys):
    served, url = server
    _serve_all(served, dataset)
    base = ["download", "--out", str(tmp_path), "--base-url", url, "--backoff", "0"]

    assert cli.main([*base, "--metadata-only", "--compound"]) == 0
    out = capsys.readouterr().out
    assert "BBBC021_v1_compound.csv is not available" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [IMAGE_CSV_NAME, MOA_CSV_NAME]

    served.log.clear()
    assert cli.main([*base, "--dry-run", "--plates", W1]) == 0
    out = capsys.readouterr().out
    assert served.log == [] and f"{W1}: 18 files" in out and "1 of 1 plate(s) to fetch" in out

    assert cli.main([*base, "--plates", "Week99_1"]) == 2
    assert "unknown plate(s) Week99_1" in capsys.readouterr().err

    del served.files[dl.plate_zip_name(W1)]
    assert cli.main([*base, "--plates", W1]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and f"plate {W1}" in err and "HTTP 404" in err

    assert cli.main([*base, "--retries", "-1"]) == 2
    assert "--retries" in capsys.readouterr().err
