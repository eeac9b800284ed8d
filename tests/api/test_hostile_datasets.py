"""Hostile workspaces over REST: links and broken .dvc files get JSON 4xx, never a 500."""

from __future__ import annotations

import json
import os
import stat

import pytest
from tornado.httpclient import HTTPClientError

POINTS = "datasets/points"


async def test_links_and_broken_dvc_files_in_the_workspace(jp_fetch, jp_root_dir, data_registry):
    # Given points attached in the server's root folder
    await jp_fetch(
        "lepton", "api", "datasets", method="POST",
        body=json.dumps({"url": data_registry.url, "path": POINTS, "rev": "v1"}),
    )  # fmt: skip
    # And a clone brought a corrupt .dvc file and a dangling one
    (jp_root_dir / "broken.dvc").write_bytes(b"\xff\xfe not yaml {{{")
    (jp_root_dir / "gone.dvc").symlink_to(jp_root_dir / "nowhere.dvc")
    # When the sidebar lists what is attached, then points is still listed
    listed = json.loads((await jp_fetch("lepton", "api", "datasets")).body)
    assert [d["to"] for d in listed] == ["points"]

    # Given the dataset folder swapped for a link to a folder outside the workspace
    outside = jp_root_dir.parent / "outside"
    outside.mkdir()
    outside.chmod(0o755)
    os.rename(jp_root_dir / "points", jp_root_dir / "points-real")
    (jp_root_dir / "points").symlink_to(outside, target_is_directory=True)
    # When detaching it over REST
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("lepton", "api", "datasets", "points", method="DELETE")
    # Then it is a 400 naming the link, and the folder outside keeps its mode
    assert info.value.code == 400
    assert "symbolic link" in json.loads(info.value.response.body)["message"]
    assert stat.S_IMODE(outside.stat().st_mode) == 0o755
