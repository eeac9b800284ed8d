"""The dataset picker drives the real API: browse, choose, attach with progress."""

from __future__ import annotations

from lepton_jupyter.widgets.datasets import DatasetPicker
from tests.fixtures.datasets import IMAGES_FILES, IMAGES_PATH


def test_picker_browses_then_attaches_with_files_and_bytes_progress(data_registry, workspace):
    # Given a picker on the team's registry
    picker = DatasetPicker(data_registry.url)
    # When the user browses
    picker.do_browse()
    # Then the datasets and versions fill the dropdowns
    assert [value for _, value in picker.dataset.options] == ["datasets/images", "datasets/points"]
    assert [value for _, value in picker.version.options][:3] == ["v3", "v2", "v1"]
    # When they pick images at v3 and attach
    picker.dataset.value = IMAGES_PATH
    picker.version.value = "v3"
    assert picker.to.value == "images"
    picker.start_attach(wait=True)
    # Then the bar is full, the counts show files and bytes, and the status says so
    assert picker.error is None and picker.result is not None
    assert picker.bar.value == picker.bar.max == IMAGES_FILES
    assert f"{IMAGES_FILES}/{IMAGES_FILES} files" in picker.counts.value
    assert "KB" in picker.counts.value
    assert "Attached datasets/images @ v3" in picker.status.value
    assert (workspace / "images.dvc").exists()


def test_picker_shows_a_bad_registry_as_an_error(workspace, tmp_path):
    picker = DatasetPicker(str(tmp_path / "nowhere"))
    picker.do_browse()
    assert "not found or unreachable" in (picker.error or "")
    assert "dc3545" in picker.status.value
    assert picker.attach_button.disabled
