"""The shared file rules: one writer per output, atomic replacement of only lstmcast's own outputs, leftovers swept
only when they are unmistakably ours, and reads of regular files only."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from lstmcast import faults
from lstmcast.errors import DataError, OutputError
from lstmcast.files.atomic import atomic_output, recover, write_text
from lstmcast.files.locks import lock_path, output_lock
from lstmcast.files.reading import read_regular


def is_mine(path: Path) -> bool:
    return path.read_text().startswith("mine")


def test_an_output_is_written_whole_and_replaced_only_with_force(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    write_text(target, "mine 1", force=False, what="a test file", recognise=is_mine)
    assert target.read_text() == "mine 1" and oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    with pytest.raises(OutputError, match="already exists; pass --force"):
        write_text(target, "mine 2", force=False, what="a test file", recognise=is_mine)
    write_text(target, "mine 2", force=True, what="a test file", recognise=is_mine)
    assert target.read_text() == "mine 2" and sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("make", ["plain file", "folder with a file", "symlink"])
def test_force_never_replaces_what_lstmcast_did_not_write(tmp_path, make):
    """Issue 11.4: --force deleted a folder holding precious.csv, plain files, the folder of the training CSV."""
    target = tmp_path / "out"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    if make == "plain file":
        target.write_text("precious")
    elif make == "folder with a file":
        target.mkdir()
        (target / "precious.csv").write_text("precious")
    else:
        target.symlink_to(victim)
    with pytest.raises(OutputError, match="lstmcast"):
        with atomic_output(target, force=True, what="a report", recognise=lambda p: False, directory=True):
            pass
    assert victim.read_text() == "precious"
    assert (target / "precious.csv").read_text() == "precious" if make == "folder with a file" else target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", "victim.txt"])


def test_a_second_writer_is_refused_and_named_while_the_first_holds_the_lock(tmp_path):
    target = tmp_path / "run"
    holder = os.open(lock_path(target), os.O_RDWR | os.O_CREAT)
    os.write(holder, b"pid 4242 on elsewhere, since 12:00:00")
    fcntl.flock(holder, fcntl.LOCK_EX)  # another open file description: as another process would hold it
    try:
        with pytest.raises(OutputError, match=r"being written by another lstmcast \(pid 4242 on elsewhere"):
            with atomic_output(target, force=True, what="a run", recognise=lambda p: True):
                pass
    finally:
        os.close(holder)
    with output_lock(target), output_lock(target):  # re-entrant in one process
        assert lock_path(target).exists()
    assert not lock_path(target).exists()  # released locks leave no file behind


def test_the_sweep_removes_only_its_own_leftovers(tmp_path):
    """Issue 11.3: the sweep deleted a user's `.photos.tmp-2019-trip/` and live writers' temporaries."""
    users = tmp_path / ".photos.tmp-2019-trip"
    users.mkdir()
    (users / "img.jpg").write_text("x")
    other_writer = tmp_path / ".other.csv.lstmcast-tmp-abcd"  # another output's temporary (its writer may be alive)
    other_writer.write_text("in progress")
    stale = tmp_path / ".f.csv.lstmcast-tmp-dead1234"  # a killed writer of f.csv (we hold f.csv's lock now)
    stale.write_text("half")
    stale_dir = tmp_path / ".f.csv.lstmcast-tmp-deadbeef.npz.parts-1"
    stale_dir.mkdir()
    write_text(tmp_path / "f.csv", "mine", force=False, what="a file", recognise=is_mine)
    assert users.is_dir() and other_writer.exists() and not stale.exists() and not stale_dir.exists()


def test_a_planted_symlink_at_a_temporary_name_is_never_followed(tmp_path):
    """Issue 11.8: temporaries come from tempfile (O_EXCL); a planted name is swept (unlinked), not written through."""
    victim = tmp_path / "victim"
    victim.write_text("keep")
    for name in (".plot.png.lstmcast-tmp-x.png", ".plot.png.tmp-1-2", ".plot.png"):
        (tmp_path / name).symlink_to(victim)
    write_text(tmp_path / "plot.png", "mine", force=False, what="a plot", recognise=is_mine)
    assert victim.read_text() == "keep" and (tmp_path / "plot.png").read_text() == "mine"


def test_a_replace_killed_between_its_renames_is_rolled_back(tmp_path, monkeypatch):
    target = tmp_path / "report"
    with atomic_output(target, force=False, what="a report", recognise=lambda p: True, directory=True) as temp:
        (temp / "a.txt").write_text("old")
    monkeypatch.setattr(faults, "hit", lambda point: (_ for _ in ()).throw(SystemExit) if point == "between-renames"
                        else None)
    with pytest.raises(SystemExit):
        with atomic_output(target, force=True, what="a report", recognise=lambda p: True, directory=True) as temp:
            (temp / "a.txt").write_text("new")
    assert not target.exists() and (tmp_path / ".report.lstmcast-old").is_dir()  # as a kill would leave it
    recover(target)
    assert (target / "a.txt").read_text() == "old" and not (tmp_path / ".report.lstmcast-old").exists()


def test_only_regular_files_are_read_and_never_past_the_cap(tmp_path):
    """Issue 11.7: /proc/self/environ was quoted in an error, /dev/zero read until memory ran out, a FIFO hung."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, message in ((fifo, "not a regular file \\(a FIFO\\)"), (Path("/dev/zero"), "a character device"),
                          (Path("/proc/self/environ"), "yields more bytes than its size says"),
                          (tmp_path, "a directory"), (tmp_path / "none", "no such thing")):
        with pytest.raises(DataError, match=message):
            read_regular(path, limit=2**20, error=DataError, missing="no such thing")
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(DataError, match="more than the"):
        read_regular(big, limit=1024, error=DataError, missing="")
    assert read_regular(big, limit=4096, error=DataError, missing="") == b"x" * 2048


def test_a_folder_that_took_one_of_our_names_keeps_the_output_the_users(runner, trained_runs, tmp_path):
    """Every folder output: a sub-folder named like one of its files (forecasts.csv/, c.npy/, export.json/) holds
    the user's files, so --force refuses the whole output and deletes nothing."""
    from lstmcast.cli import app

    run = trained_runs["many_to_one"]
    cases = {"inspect": (["inspect", str(run), "--from", "2010-01-01", "--attribution-windows", "2"], "forecasts.csv"),
             "backtest": (["backtest", str(run), "--origins", "5"], "metrics.csv"),
             "dump": (["dump-states", str(run), "--format", "npy", "--from", "2017-01-01"], "c.npy"),
             "lstmvis": (["dump-states", str(run), "--format", "lstmvis", "--stream", "--from", "2017-01-01"],
                         "annotations.h5")}
    for name, (command, taken) in cases.items():
        out = tmp_path / name
        result = runner.invoke(app, [*command, "--out", str(out)])
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, [*command, "--out", str(out), "--force"])  # its own output, as written: replaced
        assert result.exit_code == 0, (name, result.output)
        (out / taken).unlink()
        (out / taken).mkdir()
        (out / taken / "mine.txt").write_text("precious")
        result = runner.invoke(app, [*command, "--out", str(out), "--force"])
        assert result.exit_code == 6 and "lstmcast did not write" in result.output, (name, result.output)
        assert (out / taken / "mine.txt").read_text() == "precious"
