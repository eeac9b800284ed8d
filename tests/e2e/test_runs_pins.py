"""Reruns under pins, with the real datasets and registry subsystems in a papermill kernel.

The original run attaches ``datasets/points`` at ``rev="main"`` from a real git + DVC data
registry and loads ``team/m@prod`` from the real registry store. The world (data registry,
DVC remote, lepton state, workspace) is built and run once, then restored from a snapshot
before each test at the same paths, so every test reruns the same recorded run.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import papermill
import pytest
from sqlalchemy import delete, select

import lepton_jupyter as lepton
from lepton_jupyter import pins
from lepton_jupyter.errors import NotFound
from lepton_jupyter.registry import client as registry_client
from lepton_jupyter.registry.api import resolve
from lepton_jupyter.runs import rerun
from lepton_jupyter.runs.store import RunStore
from tests.fixtures.datasets import DataRegistry, make_registry
from tests.fixtures.runs import git, write_notebook

pytestmark = pytest.mark.slow

PARAMETERS = 'data_registry = ""\nmodel_ref = "team/m@prod"'
CELLS = [
    """\
import lepton_jupyter as lepton

lepton.attach(data_registry, "datasets/points", rev="main", to="points")
with open("points/train.csv") as f:
    rows = sum(1 for _ in f) - 1
weight = float(lepton.load(model_ref).read_text())
lepton.log_metric("rows", rows)
lepton.log_metric("weight", weight)
print(rows, weight)"""
]


@dataclass
class World:
    root: Path
    snapshot: Path
    data_registry: Path
    state: Path
    workspace: Path
    run_id: str
    main_commit: str

    def restore(self) -> None:
        """Put every file back as it was right after the original run, at the same paths."""
        shutil.rmtree(self.root)
        shutil.copytree(self.snapshot, self.root, symlinks=True)


def _publish(folder: Path, weight: float, alias: str | None = None) -> int:
    path = folder / "weight.txt"
    path.write_text(str(weight))
    return lepton.publish("team/m", path, alias=alias).version


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Data registry (main at v3), team/m:1 at @prod, and one recorded run that used both."""
    base = tmp_path_factory.mktemp("pins-world")
    root = base / "world"
    saved = dict(os.environ)
    try:
        os.environ["LEPTON_STATE_DIR"] = str(root / "state")
        pins.reset()
        registry = make_registry(root, images=10)
        _publish(root, 1.0, alias="prod")
        workspace = write_notebook(root / "workspace" / "nb.ipynb", CELLS, PARAMETERS).parent
        papermill.execute_notebook(
            str(workspace / "nb.ipynb"),
            str(workspace / "out.ipynb"),
            parameters={"data_registry": registry.url},
            engine_name="lepton",
            cwd=str(workspace),
            progress_bar=False,
        )
        (run_id,) = RunStore(root / "state" / "runs").ids()
        main_commit = registry.commit_of("main")
    finally:
        pins.reset()
        os.environ.clear()
        os.environ.update(saved)
    snapshot = base / "snapshot"
    shutil.copytree(root, snapshot, symlinks=True)
    return World(root, snapshot, Path(registry.url), root / "state", workspace, run_id, main_commit)


@pytest.fixture
def restored(world: World) -> World:
    """The world as right after the original run; this test's lepton state is the world's."""
    world.restore()
    # The registry database was replaced at the same path: a client this process cached
    # would still hold the replaced file open.
    registry_client._clients.clear()
    os.environ["LEPTON_STATE_DIR"] = str(world.state)
    pins.reset()
    return world


def _pin(run, kind: str):
    (entry,) = [p for p in run.diff().pins if p.kind == kind]
    return entry


def test_rerun_after_prod_moved_and_new_data_was_tagged_changes_nothing(restored: World):
    # Given, since the run, team/m:2 was published and @prod moved to it
    _publish(restored.root, 2.0, alias=None)
    lepton.set_alias("team/m", "prod", 2)
    assert resolve("team/m@prod").version == 2
    # And new points data was committed on main and tagged v4
    registry = DataRegistry(url=str(restored.data_registry), remote=restored.root / "remote")
    assert registry.add_dataset("datasets/points", 5, tag="v4") != restored.main_commit
    # When the run is rerun
    run = rerun(restored.run_id)
    # Then it saw the same data commit and model version, and nothing changed
    original = RunStore(restored.state / "runs").get(restored.run_id)
    assert run.metrics == original.metrics == {"rows": 960, "weight": 1.0}
    dataset, model = _pin(run, "dataset"), _pin(run, "model")
    assert (dataset.status, dataset.after["commit"]) == ("held", restored.main_commit)
    assert (model.status, model.key, model.after["version"]) == ("held", "team/m@prod", 1)
    assert run.diff().identical, run.diff().summary()


def test_a_pinned_model_version_that_was_deleted_fails_the_rerun_naming_it(restored: World):
    # Given team/m:1, which the run loaded through @prod, was deleted from the registry
    from lepton_jupyter.registry import tables as db
    from lepton_jupyter.registry.store import SqlRegistryStore
    from lepton_jupyter.settings import load_settings

    store = SqlRegistryStore(load_settings().registry_db)
    with store.write() as session:
        version_id = session.scalar(select(db.Version.id).where(db.Version.number == 1))
        for table in (db.VersionFile, db.LoadEvent, db.Alias):
            session.execute(delete(table).where(table.version_id == version_id))
        session.execute(delete(db.Version).where(db.Version.id == version_id))
    store.dispose()
    # When the run is rerun, Then the error names the pin and the missing version
    with pytest.raises(NotFound) as info:
        rerun(restored.run_id)
    message = info.value.message
    assert f"of run {restored.run_id} failed at In [" in message
    assert "pins 'team/m@prod' to team/m:1, which no longer exists" in message


def test_a_pinned_data_commit_gone_upstream_fails_the_rerun_naming_it(restored: World):
    # Given the data registry's history was rewritten: the commit the run used is gone
    repo = restored.data_registry
    git("tag", "-d", "v3", cwd=repo)
    git("reset", "-q", "--hard", "v2", cwd=repo)
    git("reflog", "expire", "--expire=now", "--all", cwd=repo)
    git("gc", "-q", "--prune=now", cwd=repo)
    # When the run is rerun, Then the error names the missing commit and the registry
    with pytest.raises(NotFound) as info:
        rerun(restored.run_id)
    message = info.value.message
    assert f"of run {restored.run_id} failed at In [" in message
    assert restored.main_commit in message and str(repo) in message


def test_demo_rerun_check_moves_prod_tags_data_and_reports_the_pins_that_held(
    restored: World,
):
    # Given the recorded run (the demo registry already has v3 here, so the tag is v4)
    from lepton_jupyter.demo.rerun_check import demo_rerun_check

    # When the demo's closing step runs
    check = demo_rerun_check(restored.run_id, tag="v4")
    # Then it moved @prod and tagged data, and the rerun is identical under held pins
    assert check.identical, check.report()
    assert resolve("team/m@prod").version == 2
    registry = DataRegistry(url=str(restored.data_registry), remote=restored.root / "remote")
    assert registry.commit_of("main") == registry.commit_of("v4") != restored.main_commit
    report = check.report()
    assert "team/m@prod moved from version 1 to 2" in report
    assert "datasets/points tagged v4" in report
    assert f"Rerun {check.rerun.id}: metrics identical (rows=960, weight=1.0)" in report
    assert f"pin dataset datasets/points@main -> {restored.main_commit}: held" in report
    assert "pin model team/m@prod -> 1: held" in report
