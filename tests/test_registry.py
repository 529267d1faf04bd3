import subprocess
import sys

import pytest

from model.errors import NotFound, RetrainInProgress
from model.versions.registry import Registry, normalise_version


def _version(reg: Registry, name: str) -> None:
    with reg.staging(name) as tmp:
        (tmp / "metadata.json").write_text(f'{{"version": "{name}"}}')


def test_a_version_appears_only_when_staging_completes(tmp_path):
    reg = Registry(tmp_path)
    with pytest.raises(RuntimeError), reg.staging("v1") as tmp:
        (tmp / "metadata.json").write_text("{}")
        raise RuntimeError("crash while writing")
    assert reg.versions() == [] and not list(tmp_path.glob(".tmp-*"))
    _version(reg, "v1")
    assert reg.versions() == ["v1"] and reg.next_version() == "v2"


def test_served_pointer_only_names_complete_versions(tmp_path):
    reg = Registry(tmp_path)
    assert reg.served() is None
    _version(reg, "v1")
    reg.set_served("v1")
    assert reg.served() == "v1"
    with pytest.raises(NotFound):
        reg.set_served("v7")
    assert reg.served() == "v1"


def test_partial_folders_from_a_killed_trainer_are_ignored_and_cleaned(tmp_path):
    reg = Registry(tmp_path)
    _version(reg, "v1")
    (tmp_path / ".tmp-v2-999").mkdir()
    (tmp_path / "v3").mkdir()  # no metadata.json: not a version
    assert reg.versions() == ["v1"]
    with reg.train_lock():
        pass
    assert not (tmp_path / ".tmp-v2-999").exists()


def test_retention_keeps_the_newest_and_never_the_served_one(tmp_path):
    reg = Registry(tmp_path)
    for i in range(1, 6):
        _version(reg, f"v{i}")
    reg.set_served("v1")
    removed = reg.retain(2)
    assert removed == ["v2", "v3"]
    assert reg.versions() == ["v1", "v4", "v5"]


def test_the_train_lock_excludes_another_process(tmp_path):
    reg = Registry(tmp_path)
    code = (
        "import sys, time; from model.versions.registry import Registry\n"
        "with Registry(sys.argv[1]).train_lock():\n"
        "    print('locked', flush=True); time.sleep(30)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(RetrainInProgress), reg.train_lock():
            pass
    finally:
        proc.kill()
        proc.wait()
    with reg.train_lock():  # released when the holder dies
        pass


@pytest.mark.parametrize(
    ("text", "name"), [("v3", "v3"), ("V3", "v3"), ("3", "v3"), (" v12 ", "v12")]
)
def test_version_names(text, name):
    assert normalise_version(text) == name


def test_a_bad_version_name_is_not_found():
    with pytest.raises(NotFound, match="versions look like v3"):
        normalise_version("latest")
