"""Artifacts and banks that lie: edited JSON, swapped or damaged arrays, paths out of the directory.

A generator's JSON records the weights' SHA-256, but whoever edits the JSON can update the hash
too; so nothing the JSON says may cost memory or time before the weights' own header confirms it.
A bank's arrays are checked against the digests in bank.json, so a damaged or relabelled pool is
refused instead of training on mislabelled images.
"""

import json
import os
import time

import numpy as np
import pytest
import torch

from ganaug import ArtifactError, Generator, SyntheticBank, export_generator, load_generator
from ganaug.mix.bank import IMAGES_FILE, LABELS_FILE
from ganaug.mix.bank import META_FILE as BANK_META
from ganaug.gan.artifact import META_FILE, WEIGHTS_FILE
from ganaug.base.files import file_sha256
from ganaug.gan.sampling import TrainedGenerator


@pytest.fixture
def artifact(tmp_path):
    torch.manual_seed(0)
    return export_generator(Generator(3, 8, 1, z_dim=8, width=8), tmp_path / "gen", class_names=["a", "b", "c"])


def _edit(path, **changes):
    """Rewrite generator.json with `changes` (dotted keys reach into architecture.kwargs)."""
    meta = json.loads((path / META_FILE).read_text())
    for key, value in changes.items():
        if key.startswith("kwargs_"):
            meta["architecture"]["kwargs"][key[len("kwargs_"):]] = value
        else:
            meta[key] = value
    (path / META_FILE).write_text(json.dumps(meta))
    return meta


# ------------------------------------------------------------------ generator: sizes from the JSON


def test_huge_num_classes_is_refused_before_anything_is_allocated(artifact):
    # 10 million classes: class-conditional batch norm alone would be gigabytes of embeddings.
    _edit(artifact, num_classes=10_000_000, kwargs_num_classes=10_000_000)
    start = time.perf_counter()
    with pytest.raises(ArtifactError, match="num_classes") as e:
        load_generator(artifact)
    assert time.perf_counter() - start < 2.0
    assert str(artifact) in str(e.value)


def test_architecture_that_disagrees_with_the_weights_header_is_refused_before_building(artifact, monkeypatch):
    # Consistent JSON, but a width the weights were not made with: ~1 GB of parameters if built.
    _edit(artifact, kwargs_width=4096)
    import ganaug.gan.artifact

    built = []
    real = ganaug.gan.artifact.Generator

    def spy(*args, **kwargs):
        net = real(*args, **kwargs)
        built.append(next(net.parameters()).device.type)
        return net

    monkeypatch.setattr(ganaug.gan.artifact, "Generator", spy)
    start = time.perf_counter()
    with pytest.raises(ArtifactError, match=r"fc.weight.*shape|shape.*fc.weight") as e:
        load_generator(artifact)
    assert time.perf_counter() - start < 2.0
    assert "cpu" not in built  # only the shape-only (meta device) network was built
    assert WEIGHTS_FILE in str(e.value)


def test_weights_with_a_missing_or_extra_tensor_are_refused(artifact):
    from safetensors.torch import load_file, save_file

    state = load_file(str(artifact / WEIGHTS_FILE))
    state["extra"] = torch.zeros(2)
    del state["out_conv.bias"]
    save_file(state, str(artifact / WEIGHTS_FILE))
    _edit(artifact, weights_sha256=file_sha256(artifact / WEIGHTS_FILE))
    with pytest.raises(ArtifactError, match=r"out_conv.bias.*missing|missing.*out_conv.bias") as e:
        load_generator(artifact)
    assert "extra" in str(e.value)


# ------------------------------------------------------------------ generator: field types


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("class_names", 7, "list of strings"),
        ("class_names", ["a", 2, "c"], "list of strings"),
        ("format_version", "2", "integer"),
        ("num_classes", "3", "integer"),
        ("num_classes", True, "integer"),
        ("num_classes", 0, "positive"),
        ("image_shape", "8x8", "list of 3"),
        ("image_shape", [8, 8], "list of 3"),
        ("weights_sha256", 5, "string"),
        ("weights_sha256", "abc", "64 hex"),
        ("architecture", [], "object"),
        ("weights_file", 3, "string"),
        ("kwargs_num_classes", 3.5, "integer"),
        ("kwargs_z_dim", -1, "positive"),
        ("kwargs_image_size", "8", "integer"),
        ("kwargs_bogus", 1, "unknown"),
        # ganaug-tune's split check called .get on it: an AttributeError traceback
        ("data_split", "n100", "mapping"),
        ("data_split", [100, 0], "mapping"),
    ],
)
def test_every_json_field_is_type_checked_with_its_name(artifact, field, value, expected):
    _edit(artifact, **{field: value})
    name = field.replace("kwargs_", "architecture.kwargs.")
    with pytest.raises(ArtifactError, match=expected) as e:
        load_generator(artifact)
    msg = str(e.value)
    assert name in msg and repr(value)[:20] in msg and "re-export" in msg


def test_architecture_fields_must_agree_with_the_top_level_fields(artifact):
    _edit(artifact, num_classes=4, class_names=["a", "b", "c", "d"])
    with pytest.raises(ArtifactError, match="num_classes"):
        load_generator(artifact)
    _edit(artifact, num_classes=3, class_names=["a", "b", "c"], image_shape=[16, 16, 1])
    with pytest.raises(ArtifactError, match="image_shape"):
        load_generator(artifact)


def test_class_names_must_match_num_classes(artifact):
    _edit(artifact, class_names=["a", "b"])
    with pytest.raises(ArtifactError, match="class_names"):
        load_generator(artifact)


def test_class_names_given_twice_are_refused_on_export_and_on_load(artifact, tmp_path):
    # Accepted before: sample(labels=["a"]) gave the last class named "a", and ganaug-sample png=true
    # wrote both classes into one png/a/ folder, which reads back as one class.
    net = Generator(3, 8, 1, z_dim=8, width=8)
    with pytest.raises(ValueError, match=r"class_names has duplicates \['a'\]; every class needs a distinct name"):
        export_generator(net, tmp_path / "dup", class_names=["a", "a", "b"])
    assert not (tmp_path / "dup").exists()
    with pytest.raises(ValueError, match=r"duplicates \['a'\]"):
        TrainedGenerator(net, ["a", "b", "a"])
    _edit(artifact, class_names=["a", "b", "a"])
    with pytest.raises(ArtifactError, match=r"class_names.*a non-empty list of strings, no name twice.*re-export"):
        load_generator(artifact)


@pytest.mark.parametrize("extra, match", [
    # an artifact that no longer loaded, or loaded with another hash/class count than its weights
    ({"num_classes": 5}, r"extra keys \['num_classes'\] are the artifact's own fields; .*'train_num_classes'"),
    ({"weights_sha256": "0" * 64, "note": 1}, r"extra keys \['weights_sha256'\]"),
    # a TypeError from json after the weights were written
    ({"when": object()}, r"extra must hold JSON values"),
])
def test_extra_metadata_cannot_overwrite_the_artifact_or_half_write_it(tmp_path, extra, match):
    with pytest.raises(ValueError, match=match):
        export_generator(Generator(3, 8, 1, z_dim=8, width=8), tmp_path / "gen", extra=extra)
    assert not (tmp_path / "gen").exists()


def test_extra_metadata_is_kept_beside_the_artifacts_own_fields(tmp_path):
    from ganaug.gan.artifact import META_FIELDS

    path = export_generator(Generator(3, 8, 1, z_dim=8, width=8), tmp_path / "gen", extra={"steps": 7})
    meta = json.loads((path / META_FILE).read_text())
    assert set(meta) == set(META_FIELDS) | {"steps"} and meta["steps"] == 7
    assert load_generator(path).meta["steps"] == 7


def test_exporting_something_other_than_a_generator_is_named(tmp_path):
    with pytest.raises(TypeError, match=r"export_generator writes a ganaug Generator .*got Linear"):
        export_generator(torch.nn.Linear(2, 2), tmp_path / "gen")


# ------------------------------------------------------------------ generator: weights_file path


@pytest.mark.parametrize("name", ["/etc/passwd", "../gen2/generator.safetensors", "sub/../../x", "",
                                  "g\x00.safetensors"])  # a NUL: os's raw "embedded null byte" before
def test_weights_file_must_stay_in_the_artifact_directory(artifact, name):
    _edit(artifact, weights_file=name)
    with pytest.raises(ArtifactError, match="weights_file") as e:
        load_generator(artifact)
    assert "inside" in str(e.value)


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_weights_file_that_is_not_a_regular_file_is_named_as_such(artifact, kind):
    # "is missing" before, for a file plainly there; and hashing a FIFO would wait for a writer forever.
    if kind == "fifo" and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    (artifact / WEIGHTS_FILE).unlink()
    if kind == "fifo":
        os.mkfifo(artifact / WEIGHTS_FILE)
    else:
        (artifact / WEIGHTS_FILE).mkdir()
    with pytest.raises(ArtifactError, match="not a regular file") as e:
        load_generator(artifact)
    assert str(artifact / WEIGHTS_FILE) in str(e.value) and "re-export" in str(e.value)


def test_weights_file_symlink_out_of_the_directory_is_refused(artifact, tmp_path):
    outside = tmp_path / "elsewhere.safetensors"
    outside.write_bytes((artifact / WEIGHTS_FILE).read_bytes())
    (artifact / "link.safetensors").symlink_to(outside)
    _edit(artifact, weights_file="link.safetensors")
    with pytest.raises(ArtifactError, match="weights_file.*inside|inside.*weights_file"):
        load_generator(artifact)
    # A link that stays inside the directory is fine.
    (artifact / "inner.safetensors").symlink_to(artifact / WEIGHTS_FILE)
    _edit(artifact, weights_file="inner.safetensors")
    assert load_generator(artifact).num_classes == 3


def test_a_huge_safetensors_header_length_is_refused(artifact):
    data = bytearray((artifact / WEIGHTS_FILE).read_bytes())
    data[:8] = (1 << 62).to_bytes(8, "little")
    (artifact / WEIGHTS_FILE).write_bytes(bytes(data))
    _edit(artifact, weights_sha256=file_sha256(artifact / WEIGHTS_FILE))
    with pytest.raises(ArtifactError, match="header"):
        load_generator(artifact)


# ------------------------------------------------------------------------- bank contents


@pytest.fixture
def bank_dir(tmp_path):
    torch.manual_seed(0)
    gen = TrainedGenerator(Generator(10, 8, 1, z_dim=16, width=8), [str(k) for k in range(10)])
    return SyntheticBank.generate(gen, 200, tmp_path / "bank", seed=1, progress=False).path


def _rewrite(path, array):
    """Overwrite an array's .npy in place, keeping its shape and dtype (and its header)."""
    mm = np.load(path, mmap_mode="r+")
    mm[:] = array
    mm.flush()
    del mm


def test_zeroed_images_are_refused(bank_dir):
    _rewrite(bank_dir / IMAGES_FILE, 0)
    with pytest.raises(ArtifactError, match=IMAGES_FILE) as e:
        SyntheticBank.open(bank_dir)
    assert str(bank_dir / IMAGES_FILE) in str(e.value) and "ganaug-sample" in str(e.value)


def test_labels_shifted_by_one_are_refused(bank_dir):
    labels = np.load(bank_dir / LABELS_FILE)
    _rewrite(bank_dir / LABELS_FILE, np.roll(labels, 1))  # same class counts, every item mislabelled
    with pytest.raises(ArtifactError, match=LABELS_FILE) as e:
        SyntheticBank.open(bank_dir)
    assert "SyntheticBank.generate" in str(e.value)


def test_verify_false_skips_the_content_check(bank_dir):
    _rewrite(bank_dir / IMAGES_FILE, 0)
    assert len(SyntheticBank.open(bank_dir, verify=False)) == 200


def test_bank_written_before_digests_opens_with_a_warning(bank_dir):
    meta = json.loads((bank_dir / BANK_META).read_text())
    del meta["digest"]
    (bank_dir / BANK_META).write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="cannot be checked"):
        bank = SyntheticBank.open(bank_dir)
    assert len(bank) == 200


def test_truncated_images_name_the_file_and_the_fix(bank_dir):
    data = (bank_dir / IMAGES_FILE).read_bytes()
    (bank_dir / IMAGES_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="truncated") as e:
        SyntheticBank.open(bank_dir)
    assert str(bank_dir / IMAGES_FILE) in str(e.value) and "ganaug-sample" in str(e.value)
    (bank_dir / IMAGES_FILE).write_bytes(data)
    (bank_dir / LABELS_FILE).write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ArtifactError, match=LABELS_FILE):
        SyntheticBank.open(bank_dir)


@pytest.mark.parametrize("field, value", [("images_file", "/etc/passwd"), ("labels_file", "../x.npy"),
                                          ("size", "200"), ("image_shape", [8, 8]), ("class_names", 7),
                                          ("format_version", "2"), ("digest", "abc"),
                                          # OverflowError from len(bank); os's "embedded null byte"; a refresh
                                          # that failed on int("x") after writing the new images
                                          ("size", 10**30), ("images_file", "images\x00.npy"),
                                          ("refreshes", "x"), ("refreshes", -1)])
def test_bank_json_fields_are_type_checked(bank_dir, field, value):
    meta = json.loads((bank_dir / BANK_META).read_text())
    meta[field] = value
    (bank_dir / BANK_META).write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=field):
        SyntheticBank.open(bank_dir)


def test_refresh_keeps_the_digest_and_an_interrupted_refresh_still_opens(bank_dir, monkeypatch):
    torch.manual_seed(0)
    gen = TrainedGenerator(Generator(10, 8, 1, z_dim=16, width=8), [str(k) for k in range(10)])
    bank = SyntheticBank.open(bank_dir, generator=gen)
    bank.refresh(0.5, round=1)
    assert np.array_equal(SyntheticBank.open(bank_dir).images, bank.images)

    import ganaug.mix.bank

    # Killed after the new images replaced the old, before bank.json said so.
    real_write, calls = ganaug.mix.bank._write_meta, []

    def killed_on_second(path, meta):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_write(path, meta)

    monkeypatch.setattr(ganaug.mix.bank, "_write_meta", killed_on_second)
    with pytest.raises(KeyboardInterrupt):
        bank.refresh(0.5, round=2)
    monkeypatch.setattr(ganaug.mix.bank, "_write_meta", real_write)
    reopened = SyntheticBank.open(bank_dir, generator=gen)
    # ... and a later refresh leaves a bank that checks out with a single digest again.
    reopened.refresh(0.5, round=3)
    assert "images_next" not in json.loads((bank_dir / BANK_META).read_text())["digest"]
    SyntheticBank.open(bank_dir)


def test_bank_files_stay_readable_when_the_digest_is_checked(bank_dir):
    # The check reads the arrays; opening must not need write access.
    for name in (IMAGES_FILE, LABELS_FILE, BANK_META):
        os.chmod(bank_dir / name, 0o444)
    assert len(SyntheticBank.open(bank_dir)) == 200
