"""Fault injection, security: hostile checkpoints and hostile or broken download servers (loopback only).

Each test keeps one probe of issue #11 as a regression test: a malicious pickle must not run, a damaged
checkpoint must not load, a mirror must not write outside ``--out``, a CSV cut short must not be saved as whole.
"""

from __future__ import annotations

import errno
import io
import os
import pickle
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import test_download
import torch
from test_download import FAST, W1, _serve_all
from test_train import make_store

from cellclr_lib import cli
from cellclr_lib.checkpoint import load_checkpoint, save_checkpoint
from cellclr_lib.data import download as dl
from cellclr_lib.data import http
from cellclr_lib.data.metadata import IMAGE_CSV_NAME, MOA_CSV_NAME, SHIPPED_SHA256, shipped_path
from cellclr_lib.errors import DataError
from cellclr_lib.lock import lock_path
from cellclr_lib.models import build_model

pytestmark = pytest.mark.timeout(120)
server = test_download.server  # the loopback server and its served plates, as fixtures of this module too
dataset = test_download.dataset


class _CreatesFile:
    """Unpickling this calls ``open(path, "w")``: a real payload, harmless except for the file it creates."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (open, (str(self.path), "w"))


def _checkpoint(path: Path, arch: str = "resnet18", saved_arch: str | None = None) -> Path:
    model = build_model(arch, small_input=True)
    config = {
        "arch": saved_arch or arch,
        "small_input": True,
        "projection_dim": 128,
        "dim": model.dim,
        "input_size": 16,
    }
    return save_checkpoint(path, {"model": model.state_dict(), "model_config": config, "epoch": 1, "step": 1})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("faults") / "store", {"Week1_1": 6})


def _embed(checkpoint: Path, store: Path, out: Path) -> int:
    argv = ["embed", "--checkpoint", str(checkpoint), "--store", str(store), "--out", str(out)]
    return cli.main([*argv, "--device", "cpu"])


@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_malicious_pickle_checkpoint_does_not_execute(writer, store, tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    payload = {"model": _CreatesFile(marker), "model_config": {}}
    if writer == "torch.save":
        torch.save(payload, evil)
    else:
        evil.write_bytes(pickle.dumps(payload, protocol=2))
    assert _embed(evil, store, tmp_path / "emb") == 1
    assert "cannot read checkpoint safely" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "emb").exists()
    if writer == "torch.save":  # the payload is real: an unsafe load would have run it
        torch.load(evil, weights_only=False)
        assert marker.exists()


def test_flipped_bits_in_a_checkpoint_are_detected(store, tmp_path, capsys):
    path = _checkpoint(tmp_path / "last.pt")
    weights = build_model("resnet18", small_input=True).state_dict()
    assert load_checkpoint(path)["model"].keys() == weights.keys()
    data = bytearray(path.read_bytes())
    tensor = load_checkpoint(path)["model"]["encoder.layer4.0.conv1.weight"].numpy().tobytes()
    at = bytes(data).index(tensor[:64]) + 1000  # inside that tensor's stored bytes
    data[at] ^= 0x40  # one bit: torch.load alone loads this without complaint
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="checksum does not match"):
        load_checkpoint(path)
    assert _embed(path, store, tmp_path / "emb") == 1
    assert "checkpoint is corrupt" in capsys.readouterr().err


def test_truncated_and_foreign_checkpoints_are_messages(store, tmp_path, capsys):
    path = _checkpoint(tmp_path / "last.pt")
    path.write_bytes(path.read_bytes()[:5000])
    assert _embed(path, store, tmp_path / "a") == 1
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    assert _embed(tmp_path / "other.pt", store, tmp_path / "b") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "cannot read checkpoint safely" in err and "not a cellclr" in err


def test_checkpoint_of_another_architecture_is_a_message(store, tmp_path, capsys):
    path = _checkpoint(tmp_path / "last.pt", arch="resnet18", saved_arch="resnet34")
    assert _embed(path, store, tmp_path / "emb") == 1
    err = capsys.readouterr().err
    assert "do not fit a resnet34 encoder" in err and "Traceback" not in err


def test_checkpoint_round_trip_keeps_rng_states_loadable_safely(tmp_path):
    from cellclr_lib.checkpoint import rng_state, set_rng_state

    generator = torch.Generator().manual_seed(1)
    path = save_checkpoint(
        tmp_path / "c.pt", {"model": {}, "model_config": {}, "rng": [rng_state(generator)]}
    )
    state = load_checkpoint(path)
    expected = torch.rand(3, generator=generator)
    other = torch.Generator().manual_seed(99)
    set_rng_state(state["rng"][0], other)
    assert torch.equal(torch.rand(3, generator=other), expected)


# ------------------------------------------------------------------------------------------- downloads


def _hostile_csv(dataset: dict, folder: str) -> bytes:
    rows = dataset["rows"].copy()
    w1 = rows["Image_Metadata_Plate_DAPI"] == W1
    for column in ("Image_PathName_DAPI", "Image_PathName_Tubulin", "Image_PathName_Actin"):
        rows.loc[w1, column] = folder
    return rows.to_csv(index=False).encode()


@pytest.mark.parametrize("folder", ["../escaped", "/tmp/cellclr-absolute-escape", "Week1/../../escaped"])
def test_path_traversal_in_the_image_csv_writes_nothing_outside(server, dataset, tmp_path, folder, capsys):
    served, url = server
    _serve_all(served, dataset)
    served.files[IMAGE_CSV_NAME] = _hostile_csv(dataset, folder)
    root = tmp_path / "root"
    before = set(tmp_path.parent.rglob("*"))
    code = cli.main(["download", "--out", str(root), "--plates", W1, "--base-url", url, "--retries", "0"])
    assert code == 1
    assert "refusing the path" in capsys.readouterr().err
    assert not Path("/tmp/cellclr-absolute-escape").exists()
    ours = {root, lock_path(root)}  # the folder and its writer's lock beside it
    outside = {p for p in set(tmp_path.parent.rglob("*")) - before if root not in p.parents and p not in ours}
    assert outside == set()
    assert not any(name.startswith("BBBC021_v1_images") for name, _ in served.log)


def test_symlink_leading_out_of_out_is_refused(server, dataset, tmp_path, capsys):
    served, url = server
    _serve_all(served, dataset)
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    (root / "Week1").mkdir(parents=True)
    elsewhere.mkdir()
    (root / "Week1" / W1).symlink_to(elsewhere)
    assert cli.main(["download", "--out", str(root), "--plates", W1, "--base-url", url]) == 1
    assert "symbolic link" in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []


def test_hostile_plate_name_is_refused(server, dataset, tmp_path):
    served, url = server
    _serve_all(served, dataset)
    rows = dataset["rows"].copy()
    rows.loc[rows["Image_Metadata_Plate_DAPI"] == W1, "Image_Metadata_Plate_DAPI"] = "../../x"
    served.files[IMAGE_CSV_NAME] = rows.to_csv(index=False).encode()
    with pytest.raises(DataError, match="refusing the plate name"):
        dl.download_plates(tmp_path / "root", ["../../x"], base_url=url, **FAST)
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "BBBC021_v1_images_x.zip").exists()


def test_unsized_csv_cut_at_a_line_end_is_not_saved(server, tmp_path):
    served, url = server
    full = shipped_path(MOA_CSV_NAME).read_bytes()
    cut = full[: full.index(b"\n", len(full) // 2) + 1]  # a valid, shorter table
    served.files[MOA_CSV_NAME] = cut
    served.unsized.add(MOA_CSV_NAME)
    dest = tmp_path / MOA_CSV_NAME
    with pytest.raises(DataError, match="announced no size"):
        http.fetch_file(url + MOA_CSV_NAME, dest, expected_sha256=SHIPPED_SHA256[MOA_CSV_NAME], **FAST)
    assert not dest.exists() and not http.part_path(dest).exists()
    served.files[MOA_CSV_NAME] = full  # the Broad's exact file: accepted without a length
    http.fetch_file(url + MOA_CSV_NAME, dest, expected_sha256=SHIPPED_SHA256[MOA_CSV_NAME], **FAST)
    assert dest.read_bytes() == full


def test_metadata_download_requires_a_size_or_the_known_checksum(server, dataset, tmp_path, capsys):
    served, url = server
    _serve_all(served, dataset)
    served.unsized.add(IMAGE_CSV_NAME)  # a subset CSV without length: cannot be verified
    assert cli.main(["download", "--out", str(tmp_path), "--metadata-only", "--base-url", url]) == 1
    assert "announced no size" in capsys.readouterr().err
    assert not (tmp_path / IMAGE_CSV_NAME).exists()


def test_server_dropping_every_connection_early_still_progresses(server, tmp_path):
    served, url = server
    payload = os.urandom(300_000)
    served.files["blob.bin"] = payload
    served.drop_every["blob.bin"] = 20_000  # well under one 64 KiB read
    result = http.fetch_file(url + "blob.bin", tmp_path / "blob.bin", **FAST)
    assert (tmp_path / "blob.bin").read_bytes() == payload and result.bytes_transferred == len(payload)
    assert len(served.requests_for("blob.bin")) == 15


def test_zip_members_are_matched_by_name_never_written_by_their_own_path(tmp_path):
    """A member named ``../../evil.tif`` in the zip cannot choose where it lands: the CSV's path decides."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../a.tif", b"tiff bytes")
    (tmp_path / "p.zip").write_bytes(buffer.getvalue())
    plan = dl.PlatePlan("P1", "http://127.0.0.1/none", ("Week1/P1/a.tif",))
    assert dl.extract_plate(tmp_path / "p.zip", tmp_path / "root", plan, progress=False) == 1
    assert (tmp_path / "root/Week1/P1/a.tif").read_bytes() == b"tiff bytes"
    assert not (tmp_path.parent / "a.tif").exists()


def test_shipped_checksums_match_the_shipped_files():
    import hashlib

    for name, digest in SHIPPED_SHA256.items():
        assert hashlib.sha256(shipped_path(name).read_bytes()).hexdigest() == digest
    assert len(pd.read_csv(shipped_path(MOA_CSV_NAME))) > 100


def test_disk_full_during_a_download_is_one_message(server, dataset, tmp_path, monkeypatch, capsys):
    served, url = server
    _serve_all(served, dataset)

    def full(source: object, target: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    monkeypatch.setattr(os, "replace", full)
    assert cli.main(["download", "--out", str(tmp_path), "--metadata-only", "--base-url", url]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / IMAGE_CSV_NAME}: no space left on the device" in err and "Traceback" not in err
    assert http.part_path(tmp_path / IMAGE_CSV_NAME).exists()  # kept: the rerun resumes it
