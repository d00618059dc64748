"""Odd input at the edges: file names a shell or a terminal would mangle,
output that cannot be written, a model server that accepts a connection and
then says nothing. Each is one clear line, and nothing is lost."""
from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.sanitise import resume_command, shell_command, shell_word
from tests.saves import wait_for_rounds

ROOT = Path(__file__).resolve().parent.parent
SHELLS = [sh for sh in ("dash", "bash", "zsh", "ksh") if shutil.which(sh)] or ["sh"]
# names a shell would split, expand or misread, a terminal obey, or argparse take for a flag
ODD_NAMES = ["run.db", "my  run.db", "it's here.db", 'a"$(touch x)`x`$HOME*.db', "-x.db", "--help", "-",
             "back\\slash\\n.db", "%s%d.db", "tab\there.db", "line\nbreak.db", "ends in a newline\n", "\n\n",
             "esc\x1b[31mred\x1b[0m.db", "\u202eevil.bd", "caf\u00e9 \u4e2d.db", "bytes\udcff\udcfe.db", "del\x7f.db",
             "c1\x9b31m.db", "-dash\nand newline\n"]


def words_read_back(command: str, shell: str) -> list[bytes]:
    """The arguments `shell` passes to `wood` running `command` (wood as a function that prints them)."""
    r = subprocess.run([shell, "-c", "wood() { printf '%s\\0' \"$@\"; }\n" + command], capture_output=True,
                       timeout=30)
    assert r.returncode == 0, (command, r.stderr)
    return r.stdout.split(b"\0")[:-1]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("name", ODD_NAMES, ids=ascii)
def test_a_suggested_command_is_read_back_by_a_shell_as_the_words_it_names(shell, name):
    line = shell_command("wood", "sim", "--resume", name)
    assert "\n" not in line and line.isprintable(), line  # one line, nothing a terminal obeys
    assert words_read_back(line, shell) == [b"sim", b"--resume", os.fsencode(name)]


@pytest.mark.parametrize("name", ODD_NAMES, ids=ascii)
def test_one_word_is_one_word_unless_it_ends_in_a_newline(name):
    if name.endswith("\n"):
        with pytest.raises(ValueError):
            shell_word(name)
    else:
        assert words_read_back(f"wood {shell_word(name)}", SHELLS[0]) == [os.fsencode(name)]


@pytest.mark.parametrize("name", ODD_NAMES, ids=ascii)
def test_a_resume_command_hands_wood_the_path_even_one_that_begins_with_a_dash(name):
    """`wood sim --resume -x.db` had told wood of a flag -x.db; `--resume=-x.db` is the path."""
    from wood_tui.options import RunOptions

    got = [w.decode("utf-8", "surrogateescape") for w in words_read_back(resume_command("sim", name), SHELLS[0])]
    if not name.strip():  # a blank path is no path: refused by the flag itself
        return
    assert str(RunOptions.parse(got[0], got[1:]).resume) == str(Path(name))


def test_a_resume_command_names_each_seat_as_the_shell_reads_it_back():
    """The `--as` of a `wood play` resume line: a name with a space or a quote is one word, one that
    begins with a dash is joined to its flag, and each reaches wood as it is."""
    line = resume_command("play", "run.db", ["Red Fox", "-Owl", "O'Hare"])
    assert words_read_back(line, SHELLS[0]) == [w.encode() for w in ["play", "--resume", "run.db", "--as",
                                                                      "Red Fox", "--as=-Owl", "--as", "O'Hare"]]


def test_a_report_of_a_save_stopped_early_names_the_command_that_resumes_that_very_file(tmp_path, world):
    from engine.ledger import Ledger
    from engine.report import report_of
    from engine.world import build_roster

    for i, name in enumerate(("my  run\n'1'.db", "esc\x1b[2Jwipe.db", "-dash.db")):
        db = tmp_path / f"{i}" / name
        db.parent.mkdir()
        Ledger.create(db, seed=1, roster=build_roster(world, 3), brains="scripted", rounds=5).close()
        first = report_of(db, world).lines()[0]
        assert first.isprintable(), first
        hint = first.partition("resume with: ")[2].removesuffix("), creatures 3")
        assert words_read_back(hint, SHELLS[0]) == [b"sim", b"--resume", os.fsencode(db)], hint


def test_ctrl_c_names_a_resume_command_that_resumes_a_save_with_an_odd_name(tmp_path):
    """The save's name has a newline, an escape sequence and a leading dash: the
    line after Ctrl-C is one printable line, and its command, run by a shell,
    resumes that save (it had read `--resume -x` as a flag, and the cleaned name
    named another file)."""
    name = "-my\nrun \x1b[31m.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    victim = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "sim", "--creatures", "6", "--rounds", "100000",
                               f"--save={name}"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    wait_for_rounds(tmp_path / name, 2, 120, victim)
    victim.send_signal(signal.SIGINT)
    _, err = victim.communicate(timeout=60)
    assert victim.returncode == 130, err
    said = err.strip().splitlines()[-1]
    assert said.isprintable() and said.startswith("wood: interrupted: stopped after round "), err
    hint = said.partition("resume with ")[2]
    words = words_read_back(hint, SHELLS[0])
    assert words == [b"sim", os.fsencode("--resume=" + name)], hint
    last = int(said.removeprefix("wood: interrupted: stopped after round ").split()[0])
    resumed = subprocess.run([sys.executable, "-m", "wood_tui.cli", *[w.decode() for w in words], "--rounds",
                              str(last + 1), "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1].startswith("state hash: "), resumed.stdout


# ---- a model server that takes the connection and says nothing ---------------------------------------------
def _silent_config(url: str):
    from engine.brains.config import ModelConfig

    return ModelConfig(name="smol", base_url=url, model="smollm2", json_mode="json_object_schema",
                       max_concurrency=2, timeout_s=30.0, connect_timeout_s=0.3, max_tokens=64)


async def test_a_chat_call_to_a_tls_port_that_never_answers_ends_at_the_connect_timeout():
    """https to a port that takes the connection and never answers the TLS
    handshake: the call is a `connect` fault once connect_timeout_s has passed
    (twice: it is retried once), never the 30 s of timeout_s (a wait cut at
    20 s: no wall-clock bound tighter than a loaded machine keeps)."""
    import asyncio

    from engine.brains.llm import ChatClient
    from tests.fault_server import SilentPort

    with SilentPort() as silent:
        async with ChatClient(_silent_config(f"https://127.0.0.1:{silent.port}/v1")) as client:
            result = await asyncio.wait_for(client.chat([{"role": "user", "content": "hi"}]), 20)  # < timeout_s
    assert result.fault == "connect" and result.attempts == 2, result
    assert result.detail == "no connection within 0.3 s (connect_timeout_s)", result.detail
    assert silent.accepted >= 1  # it was the handshake that never came, not the connection


async def test_a_server_that_takes_no_connection_in_time_is_not_tried_on_every_call():
    """A server whose connections never complete in time (here a TLS
    handshake never answered; a host gone dark drops them so) cost every
    call connect_timeout_s twice (it is retried), call after call. As with a
    server that hangs after connecting: 3 such tries in a row and it is sent
    nothing until its health check answers, each call a `silent` fault at once."""
    import asyncio

    from engine.brains.llm import ChatClient
    from tests.fault_server import SilentPort

    with SilentPort() as silent:
        url = f"https://127.0.0.1:{silent.port}/v1"
        async with ChatClient(_silent_config(url)) as client:
            results = [await asyncio.wait_for(client.chat([{"role": "user", "content": "hi"}]), 10) for _ in range(4)]
    assert [(r.fault, r.attempts) for r in results] == [("connect", 2), ("connect", 1), ("silent", 0), ("silent", 0)]
    assert results[1].detail == "no connection within 0.3 s (connect_timeout_s)"  # its retry was not sent
    assert results[3].detail == (f"not sent: {url} took none of its last 3 connections within 0.3 s "
                                 "(connect_timeout_s); asked again once it answers its health check")


@pytest.mark.parametrize("replicas", [1, 2])
async def test_the_model_check_of_a_tls_port_that_never_answers_ends_at_the_connect_timeout(replicas):
    """`check_models` (the start of every game, and a replica's health check)
    had waited connect_timeout_s + timeout_s (30.3 s here) for a TLS handshake
    that never came: it is unreachable once connect_timeout_s has passed. With
    a second, working replica the game starts without it. (Each wait is cut
    at 20 s, short of timeout_s: no wall-clock bound tighter than a loaded machine keeps.)"""
    import asyncio

    from engine.brains.llm import ChatClient, ModelServerError
    from tests.fault_server import FaultServer, SilentPort

    with SilentPort() as silent, FaultServer() as good:
        url = f"https://127.0.0.1:{silent.port}/v1"
        cfg = _silent_config(url) if replicas == 1 else _silent_config("").model_copy(
            update={"base_url": url, "base_urls": [url, good.base_url]})
        async with ChatClient(cfg) as client:
            if replicas == 1:
                with pytest.raises(ModelServerError) as caught:
                    await asyncio.wait_for(client.check_models(), 20)
                assert str(caught.value) == (f"model server for 'smol' at https://127.0.0.1:{silent.port}/v1 did not "
                                             "take the connection within 0.3 s (connect_timeout_s)")
            else:
                assert await asyncio.wait_for(client.check_models(), 20) == {"smollm2"}
                assert [r.up for r in client.replicas] == [False, True]


# ---- output that cannot be written --------------------------------------------------------------------------
def _wood(args, **kw):
    return subprocess.run([sys.executable, "-m", "wood_tui.cli", *args], cwd=ROOT, text=True, timeout=120, **kw)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
@pytest.mark.parametrize("stderr", ["full", "closed"])
def test_progress_that_cannot_be_written_does_not_stop_the_run(tmp_path, stderr):
    """`wood sim ... 2>/dev/full`: the run had stopped at its first progress
    line ('cannot write the output', exit 1, 1 round of 30 saved); `2>&-` had
    died on its progress bar (exit 1, no summary). The progress is dropped, the
    run is played and saved whole, its summary on stdout, exit 0."""
    from tests.saves import rounds_saved

    db = tmp_path / "r.db"
    args = ["sim", "--rounds", "30", "--save", str(db)]
    if stderr == "full":
        with open("/dev/full", "w") as full:
            r = _wood(args, stdout=subprocess.PIPE, stderr=full)
    else:
        r = _wood(args, stdout=subprocess.PIPE, preexec_fn=lambda: os.close(2))
    assert r.returncode == 0, r.stdout
    assert r.stdout.splitlines()[-1].startswith("state hash: ") and rounds_saved(db) == 30


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_output_and_errors_that_both_cannot_be_written_end_the_run_with_exit_1(tmp_path):
    db = tmp_path / "r.db"
    with open("/dev/full", "w") as full:
        r = _wood(["sim", "--rounds", "5", "--save", str(db)], stdout=full, stderr=full)
    assert r.returncode == 1


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
@pytest.mark.parametrize("command", [["--help"], ["sim", "--help"], ["export", "-h"]])
def test_a_help_that_cannot_be_written_is_one_line_and_exit_1(command):
    """`wood sim --help >/dev/full`: argparse dropped the help it could not
    write and the exit was 0, as if it had been read. It is output like any
    command's: one line on stderr, exit 1."""
    with open("/dev/full", "w") as full:
        r = _wood(command, stdout=full, stderr=subprocess.PIPE)
    assert r.returncode == 1 and r.stderr == "wood: error: cannot write the output (No space left on device)\n", (
        r.returncode, r.stderr)


@pytest.mark.parametrize("command", [["--help"], ["sim", "--help"], ["export", "-h"]])
def test_a_help_asked_for_with_stdout_closed_is_no_traceback(command):
    """`wood --help >&-`: Python starts with sys.stdout None, and the help
    was an AttributeError traceback, exit 1. Nothing is written, as with
    every command's output then (`print` writes nothing), exit 0."""
    r = _wood(command, stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1))
    assert (r.returncode, r.stderr) == (0, "")


@pytest.mark.parametrize("command", [["sim", "--rounds", "3"], ["report", "{db}"], ["replay", "{db}", "--verify"],
                                     ["sim", "--help"]])
def test_output_whose_reader_has_gone_ends_quietly_with_141(tmp_path, command):
    """`wood ... | head -1` whose reader left before wood wrote: exit 141 (128 +
    SIGPIPE, as a shell's own commands), nothing on stderr but progress."""
    db = tmp_path / "r.db"
    assert _wood(["sim", "--rounds", "3", "--save", str(db), "--quiet"], capture_output=True).returncode == 0
    read, write = os.pipe()
    os.close(read)
    try:
        r = _wood([c.format(db=db) for c in command], stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert r.returncode == 141 and "Traceback" not in r.stderr and "error" not in r.stderr, r.stderr


def test_a_save_whose_name_is_no_utf8_is_saved_resumed_verified_reported_and_exported(tmp_path):
    """A file name is bytes, not always UTF-8 (`cp run.db $'run\\xff.db'`, a
    Latin-1 disk): every command that opened such a save had died in a
    traceback (UnicodeEncodeError: surrogates not allowed) building SQLite's
    URI for it, `wood sim --save` before making it. Each opens that very file."""
    name = os.fsdecode(b"caf\xe9 \xff.db")
    db = tmp_path / name
    said = {}
    for args in (["sim", "--rounds", "2", "--save", str(db), "--quiet"], ["sim", "--resume", str(db), "--rounds", "3"],
                 ["replay", str(db), "--verify"], ["report", str(db)],
                 ["export", str(db), "--out", str(tmp_path / "audit")]):
        r = _wood(args, capture_output=True)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (args, r.stderr)
        said[args[0]] = r.stdout
    assert said["replay"].startswith("rounds: 3 (each rebuilt to its recorded state hash)")
    assert sorted(os.listdir(tmp_path)) == ["audit", name]  # that very file, and nothing beside it


def test_a_save_named_from_the_root_with_two_slashes_is_that_file(tmp_path):
    """`$DIR/run.db` with DIR=/ is `//run.db`, the same file as `/run.db`:
    SQLite's URI had read `//tmp` as a host (`file://tmp/...`), and every
    command refused the path ('invalid uri authority: tmp'), wood sim
    --save before making the save."""
    db = "/" + str(tmp_path / "run.db")
    assert db.startswith("//") and not db.startswith("///")
    said = {}
    for args in (["sim", "--rounds", "2", "--save", db, "--quiet"], ["sim", "--resume", db, "--rounds", "3"],
                 ["replay", db, "--verify"], ["report", db], ["export", db, "--out", "/" + str(tmp_path / "audit")]):
        r = _wood(args, capture_output=True)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (args, r.stderr)
        said[args[0]] = r.stdout
    assert said["replay"].startswith("rounds: 3 (each rebuilt to its recorded state hash)")
    assert sorted(os.listdir(tmp_path)) == ["audit", "run.db"]


# ---- a file named in an error line --------------------------------------------------------------------------
@pytest.mark.parametrize("name, shown", [("my  run.db", "my  run.db"), ("line\nbreak.db", "line\\nbreak.db"),
                                         ("esc\x1b[2Jwipe.db", "esc\\x1b[2Jwipe.db"),
                                         ("\u202eevil\\.db", "\\u202eevil\\\\.db")], ids=ascii)
@pytest.mark.parametrize("command", [["replay", "{db}", "--verify"], ["sim", "--resume", "{db}"],
                                     ["sim", "--save", "{db}", "--rounds", "2"], ["sim", "--roster", "{db}"]])
def test_an_error_names_the_file_as_given_on_one_line_its_odd_characters_escaped(tmp_path, capsys, name, shown,
                                                                                 command):
    """A file the user named is in the error as they named it: runs of spaces
    kept (they had been squeezed to one, naming another file), a newline, an
    escape sequence or a bidi override written as its escape (they had been
    dropped: 'linebreak.db', or split the line in two)."""
    from wood_tui.cli import main

    db = tmp_path / name
    if command[1] == "--save":
        db.write_text("taken")  # a save is never written over
    rc = main([c.format(db=db) for c in command])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.endswith("\n") and err[:-1].isprintable(), err
    assert f"{tmp_path}/{shown}" in err, err


def _vllm_roster(folder: Path, config: Path) -> Path:
    """A roster whose one model is served by the vLLM config at `config` (port 8005, served name m)."""
    import json

    roster = folder / "roster.toml"
    roster.write_text('[models.m]\nbackend = "vllm"\nbase_url = "http://127.0.0.1:8005/v1"\nmodel = "m"\n'
                      f"vllm_config = {json.dumps(str(config))}\n"  # TOML reads JSON's \u escapes
                      '[[creatures]]\nname = "Owl"\nspecies = "owl"\nmodel = "m"\n'
                      '[[creatures]]\nname = "Fox"\nspecies = "fox"\nmodel = "scripted"\n')
    return roster


# what each command is given ({odd}: the odd path; {db}: a save; {roster}: a roster), and what it is told of {odd}
ODD_PATH_COMMANDS = {
    "export --out": (["export", "{db}", "--out", "{odd}"], "--out {shown} is a file, not a directory"),
    "report --plots": (["report", "{db}", "--plots", "{odd}"], "--plots {shown} is a file, not a directory"),
    "sweep --out": (["sweep", "--roster", "{scripted}", "--out", "{odd}"], "--out {shown} is a file, not a directory"),
    "serve --log-dir": (["serve", "--roster", "{roster}", "--log-dir", "{odd}", "--dry-run"],
                        "--log-dir {shown} is a file, not a directory"),
    "a roster's vllm_config": (["serve", "--roster", "{odd_roster}", "--dry-run"],
                               "roster {odd_roster}: model m: vLLM config not found: {shown}"),
}


@pytest.mark.parametrize("name", ["my  runs\nline two", "my  \x1b[31mred"], ids=ascii)
@pytest.mark.parametrize("command", list(ODD_PATH_COMMANDS))
def test_an_output_folder_or_config_in_an_error_is_shown_as_given_on_one_line(tmp_path, capsys, world, name, command):
    """`wood export --out`, `wood report --plots`, `wood sweep --out`, `wood
    serve --log-dir` and a roster's vllm_config name a file the user gave: the
    error shows it as `shown_path` does, on one printable line. A newline in it
    had split the error in two, and an escape sequence had been dropped with
    the runs of spaces squeezed ('my red', another folder)."""
    from engine.ledger import Ledger
    from engine.sanitise import shown_path
    from engine.world import build_roster
    from wood_tui.cli import main

    odd = tmp_path / name
    args, said = ODD_PATH_COMMANDS[command]
    if command == "a roster's vllm_config":
        (tmp_path / "r").mkdir()
        places = {"odd_roster": _vllm_roster(tmp_path / "r", odd)}  # a config that is not there
    else:
        odd.write_text("a file, where a folder goes")
        db = tmp_path / "run.db"
        Ledger.create(db, seed=1, roster=build_roster(world, 3), brains="scripted", rounds=5).close()
        (tmp_path / "m.yaml").write_text("model: stub/m\nserved-model-name: m\nhost: 127.0.0.1\nport: 8005\n")
        places = {"db": db, "roster": _vllm_roster(tmp_path, tmp_path / "m.yaml"),
                  "scripted": ROOT / "serve" / "rosters" / "scripted.toml"}
    capsys.readouterr()
    rc = main([a.format(odd=odd, **places) for a in args])
    out, err = capsys.readouterr()
    assert rc == 2 and err.count("\n") == 1 and err[:-1].isprintable(), (out, err)
    assert err == "wood: error: " + said.format(shown=shown_path(odd), **places) + "\n", err


@pytest.mark.parametrize("command", [c for c in ODD_PATH_COMMANDS if c != "a roster's vllm_config"])
def test_a_folder_named_dash_is_refused_as_no_stream_and_dot_slash_dash_is_taken(tmp_path, capsys, monkeypatch,
                                                                                 world, command):
    """`wood export --out -` (as a shell's `-` for standard output) had made a
    folder called -, the files written into it; each flag naming a folder to
    write into says instead that it writes files into a folder, and how to
    name one called -."""
    from engine.ledger import Ledger
    from engine.world import build_roster
    from wood_tui.cli import build_parser, main

    monkeypatch.chdir(tmp_path)
    db = tmp_path / "run.db"
    Ledger.create(db, seed=1, roster=build_roster(world, 3), brains="scripted", rounds=5).close()
    places = {"db": db, "roster": ROOT / "serve" / "rosters" / "scripted.toml",
              "scripted": ROOT / "serve" / "rosters" / "scripted.toml"}
    args, _ = ODD_PATH_COMMANDS[command]
    flag = args[args.index("{odd}") - 1]
    capsys.readouterr()
    with pytest.raises(SystemExit) as ended:  # argparse's usage error (one line, exit 2)
        main([a.format(odd="-", **places) for a in args])
    out, err = capsys.readouterr()
    assert ended.value.code == 2 and err == (f"wood: error: argument {flag}: expected a directory path, got -: the files are "
                               "written into a folder, not to standard output (for a folder named -, write ./-)\n"), err
    assert not os.path.lexists(tmp_path / "-")
    parsed = build_parser().parse_args([a.format(odd="./-", **places) for a in args])
    assert getattr(parsed, flag[2:].replace("-", "_")) == "./-"


LOOP = "a symbolic link loop (links that lead round in a circle)"


@pytest.mark.parametrize("kind", ["a character device", "a named pipe (FIFO)", LOOP, "a broken link"])
@pytest.mark.parametrize("command", [c for c in ODD_PATH_COMMANDS if c != "a roster's vllm_config"]
                         + ["sim --save"])
def test_what_is_where_a_folder_goes_is_said_truly(tmp_path, capsys, world, command, kind):
    """`wood report RUN.db --plots /dev/null` had said '/dev/null is a file,
    not a directory': a device, a pipe is no file. Each output folder, and a
    save's folder, says what is there. A link round a loop, or to nowhere,
    had been 'File exists' (mkdir's word), 'DIR does not exist', or, for
    `wood export --out`, pathlib's 'Symlink loop from ...' naming no flag."""
    from engine.ledger import Ledger
    from engine.sanitise import shown_path
    from engine.world import build_roster
    from wood_tui.cli import main

    odd = Path("/dev/null") if kind == "a character device" else tmp_path / "odd"
    if kind == "a named pipe (FIFO)":
        os.mkfifo(odd)
    elif kind == LOOP:
        odd.symlink_to(tmp_path / "other")
        (tmp_path / "other").symlink_to(odd)
    elif kind == "a broken link":
        odd.symlink_to(tmp_path / "nowhere")
    db = tmp_path / "run.db"
    Ledger.create(db, seed=1, roster=build_roster(world, 3), brains="scripted", rounds=5).close()
    (tmp_path / "m.yaml").write_text("model: stub/m\nserved-model-name: m\nhost: 127.0.0.1\nport: 8005\n")
    places = {"db": db, "roster": _vllm_roster(tmp_path, tmp_path / "m.yaml"),
              "scripted": ROOT / "serve" / "rosters" / "scripted.toml"}
    args, said = ODD_PATH_COMMANDS[command] if command != "sim --save" else (
        ["sim", "--rounds", "1", "--save", "{odd}/run.db"], "--save {shown}/run.db: {shown} is a file, not a directory")
    before = sorted(os.listdir(tmp_path))
    capsys.readouterr()
    rc = main([a.format(odd=odd, **places) for a in args])
    out, err = capsys.readouterr()
    said = said.format(shown=shown_path(odd), **places).replace("is a file,", f"is {kind},")
    assert rc == 2 and err == f"wood: error: {said}\n", (out, err)
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("name", ["my  runs\nline two", "my  \x1b[31mred"], ids=ascii)
def test_the_lines_saying_what_a_report_and_an_export_read_and_wrote_show_the_paths_as_given(tmp_path, capsys, world,
                                                                                            name):
    """`report of ...` and `wrote ... to ...` had shown the path through
    clean_text: a newline or escape dropped and runs of spaces squeezed, so
    'my  runs/run.db' was shown as 'my runs/run.db', another file."""
    from engine.ledger import Ledger
    from engine.sanitise import shown_path
    from engine.world import build_roster
    from wood_tui.cli import main

    folder = tmp_path / name
    folder.mkdir()
    db = folder / "run.db"
    Ledger.create(db, seed=1, roster=build_roster(world, 3), brains="scripted", rounds=5).close()
    assert main(["report", str(db)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"report of {shown_path(db)}", first
    out = folder / "audit"
    assert main(["export", str(db), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert said == (f"wrote 0 calls to {shown_path(out / 'calls.jsonl')}, 0 tips to {shown_path(out / 'tips.jsonl')} "
                    f"and 0 whispers to {shown_path(out / 'whispers.jsonl')}\n"), said


def test_a_roster_that_is_a_pipe_nobody_writes_to_or_an_endless_device_is_one_line(tmp_path):
    """A named pipe with no writer had been opened as a file is, waiting for a
    writer without end inside the game's loop, deaf to a first SIGTERM or
    Ctrl-C; `/dev/zero` would be read without end. Each is refused at once, in
    one line; a roster given as `<(...)` (a pipe its writer holds) still plays."""
    fifo = tmp_path / "roster.toml"
    os.mkfifo(fifo)
    for path, words in ((fifo, "it is a named pipe that nothing writes to"),
                        ("/dev/zero", "it is larger than 16 MiB")):
        r = subprocess.run([sys.executable, "-m", "wood_tui", "sim", "--roster", str(path), "--rounds", "1"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    roster = ('[[creatures]]\nname = "A"\nspecies = "owl"\nmodel = "scripted"\n'
              '[[creatures]]\nname = "B"\nspecies = "fox"\nmodel = "scripted"\n')
    r = subprocess.run(["bash", "-c", '"$0" -m wood_tui sim --roster <(printf %s "$1") --rounds 2', sys.executable,
                        roster], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "rounds: 2" in r.stdout and "state hash" in r.stdout, r.stderr


def _wood_waiting(wait_s: float, shell_args: str, *args: str) -> subprocess.Popen:
    """`wood ARGS` (the real CLI, its own process group) with serve.roster.PIPE_WAIT_S
    at `wait_s`, run by bash so that `shell_args` may hold a `<(...)`."""
    code = ("import sys, serve.roster; serve.roster.PIPE_WAIT_S = float(sys.argv.pop(1)); "
            "from wood_tui.cli import run_as_module; run_as_module()")
    return subprocess.Popen(["bash", "-c", f'exec "$0" -c "$1" "$2" "${{@:3}}" {shell_args}', sys.executable, code,
                             str(wait_s), *args], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _ended(wood: subprocess.Popen, timeout_s: float) -> str:
    """What `wood` wrote on stderr, once it has ended; its group (a writer it
    was given, still holding the pipe) killed either way, so none is left."""
    try:
        wood.wait(timeout_s)
    finally:
        with contextlib.suppress(ProcessLookupError):  # stderr's last writer: read to its end below
            os.killpg(wood.pid, signal.SIGKILL)
    return wood.stderr.read()


@pytest.mark.parametrize("command", ["sim", "serve"])
def test_a_roster_from_a_pipe_that_never_ends_is_one_line_after_a_bounded_wait(command):
    """`--roster <(sleep 1000)`: a pipe whose writer holds it open and writes
    nothing had been read without end, saying nothing. It is refused once
    PIPE_WAIT_S has passed without its end, in one line naming it, exit 2 as
    the other roster errors (`wood sim` reads it inside its event loop, `wood
    serve` outside one); one that ends in time still plays (the test above)."""
    wood = _wood_waiting(2, "--roster <(sleep 1000)", command)
    err = _ended(wood, 30)
    assert wood.returncode == 2 and err.endswith("\n") and len(err.splitlines()) == 1, err
    assert err.startswith("wood: error: cannot read roster /dev/fd/"), err
    assert ": it gave no end-of-file within 2 seconds" in err, err


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="no /proc here to see the roster opened")
@pytest.mark.parametrize("command", ["sim", "serve"])
def test_ctrl_c_while_a_roster_pipe_is_waited_for_ends_it_at_once(tmp_path, command):
    """Ctrl-C in the wait for a named pipe whose writer (a real process) holds
    it open and writes nothing ends the command at once, `wood: interrupted`,
    exit 130: inside `wood sim`'s event loop too, where Ctrl-C only cancels
    the main task and a blocking read would have been waited out."""
    fifo = tmp_path / "roster.toml"
    os.mkfifo(fifo)
    held = os.open(fifo, os.O_RDWR)  # opened without waiting for a reader (Linux): the writer's end, at once
    try:
        writer = subprocess.Popen(["sleep", "1000"], stdin=subprocess.DEVNULL, stdout=held)
    finally:
        os.close(held)
    try:
        wood = _wood_waiting(600, f"--roster {shlex.quote(str(fifo))}", command)
        try:
            began = time.monotonic()
            while not _has_open(wood.pid, fifo):  # in its wait (the roster opened): no longer starting up
                assert wood.poll() is None, wood.stderr.read()
                assert time.monotonic() - began < 60, "wood never opened its roster"
                time.sleep(0.05)
            time.sleep(0.3)
            wood.send_signal(signal.SIGINT)
            err = _ended(wood, 20)
        finally:
            wood.kill()
    finally:
        writer.kill()
        writer.wait()
    assert (wood.returncode, err) == (130, "wood: interrupted\n")


def _has_open(pid: int, path: Path) -> bool:
    """Whether process `pid` has `path` open."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # ended
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                return True
        except OSError:  # closed meanwhile
            pass
    return False


def test_a_roster_from_a_pipe_is_read_once_for_every_reader_in_the_process():
    """`wood watch/play --roster <(cat roster.toml)` read the roster twice, once
    checked before the screen opens and once to play, and the second reader
    found the pipe spent: 'a named pipe that nothing writes to'. What a pipe
    gave is kept for the process (serve.roster.read_text_bytes): here the same
    two steps as `wood watch`, then a round played, in one process on a real
    `<(...)`."""
    code = ("import asyncio, sys\n"
            "from engine.world import load_world\n"
            "from wood_tui.game import check_before_the_screen, open_game\n"
            "from wood_tui.options import RunOptions\n"
            "world = load_world()\n"
            "options = RunOptions.parse('watch', ['--roster', sys.argv[1], '--rounds', '1'])\n"
            "check_before_the_screen(options, world)\n"
            "async def play():\n"
            "    async with open_game(options, world) as game:\n"
            "        await game.runner.run(1)\n"
            "        print(sorted(game.runner.state.creatures))\n"
            "asyncio.run(play())\n")
    roster = ('[[creatures]]\nname = "Ash"\nspecies = "owl"\nmodel = "scripted"\n'
              '[[creatures]]\nname = "Bramble"\nspecies = "fox"\nmodel = "scripted"\n')
    r = subprocess.run(["bash", "-c", '"$0" -c "$1" <(printf %s "$2")', sys.executable, code, roster],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "['Ash', 'Bramble']", r.stdout


@pytest.mark.parametrize("kind", ["a directory", "a named pipe (FIFO)"])
@pytest.mark.parametrize("command", ["report", "sweep"])
def test_what_stands_where_a_chart_goes_is_refused_before_the_report_or_the_sweep(tmp_path, capsys, world, command,
                                                                                  kind):
    """`wood report RUN.db --plots DIR` with a folder (or a pipe) at
    DIR/models.svg printed the whole report, then ended with exit 2 and
    'something other than a file is there'; a sweep played every run first.
    Refused before either, in one line saying what is there; it stays."""
    from engine.ledger import Ledger
    from engine.world import build_roster
    from wood_tui.cli import main

    charts = tmp_path / "charts"
    charts.mkdir()
    odd = charts / ("models.svg" if command == "report" else "sweep.svg")
    odd.mkdir() if kind == "a directory" else os.mkfifo(odd)
    db = tmp_path / "run.db"
    Ledger.create(db, seed=1, roster=build_roster(world, 3), brains="scripted", rounds=5).close()
    args = (["report", str(db), "--plots", str(charts)] if command == "report" else
            ["sweep", "--roster", str(ROOT / "serve" / "rosters" / "scripted.toml"), "--seeds", "1", "--rounds", "2",
             "--out", str(tmp_path / "runs"), "--plots", str(charts)])
    capsys.readouterr()
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (f"wood: error: --plots {charts}: {odd} is {kind}, not a file; the charts are written "
                                 "as plain files\n"), (out, err)
    assert sorted(os.listdir(charts)) == [odd.name] and not (tmp_path / "runs").exists()
