"""Odd values at the edges of `wood serve` and the servers it starts: a vLLM
config's host, --host and --port of serve.loopback and serve.batched, paths
and commands printed to the terminal, XDG folders, --vllm-bin. Each is one
clear line (a usage error exits 2) or works as the user meant; nothing is
printed raw that came from a file or a flag."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from serve.loopback import LoopbackServer
from serve.vllm import VLLMConfigError, VLLMServer, health_url, read_config
from wood_tui.cli import main

ROOT = Path(__file__).resolve().parent.parent


def vllm_yaml(folder: Path, host: str | None, port: int = 8005, name: str = "m") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"model: stub/{name}\nserved-model-name: {name}\n"
                    + (f"host: {host}\n" if host is not None else "") + f"port: {port}\n")
    return path


def vllm_roster(folder: Path, config: Path, url: str, name: str = "m") -> Path:
    roster = folder / "roster.toml"
    roster.write_text(f'[models.{name}]\nbackend = "vllm"\nbase_url = "{url}"\nmodel = "{name}"\n'
                      f"vllm_config = {json.dumps(str(config))}\n"  # TOML reads JSON's \u escapes
                      f'[[creatures]]\nname = "Owl"\nspecies = "owl"\nmodel = "{name}"\n'
                      f'[[creatures]]\nname = "Fox"\nspecies = "fox"\nmodel = "scripted"\n')
    return roster


def one_error(capsys, argv: list[str]) -> str:
    """`wood ARGV` in-process: exit 2, one `wood: error:` line, no traceback."""
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own (wood_tui/cli.py: one line, exit 2)
        rc = e.code
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    assert err.startswith("wood: error: ") and err.count("\n") == 1 and "Traceback" not in err + out, err
    return err.rstrip("\n")


# --- a vLLM config's host, IPv6 --------------------------------------------------

@pytest.mark.parametrize("host,words", [
    ("'gpu a'", "host: 'gpu a' is not a host name or an IP address"),
    ("8080", "host: 8080 is not a host name or an IP address"),
    ("'[::1]'", "host: '[::1]' is not a host name or an IP address"),  # bare in a bind address: vLLM's --host ::1
    ("'::g'", "'::g' is not a host name or an IP address (an IPv6 address?)"),
    ("true", "host: True is not a host name"),
])
def test_a_vllm_config_host_that_is_no_host_is_refused_naming_the_file(tmp_path, host, words):
    """It had been read as it was and made into the health URL and the
    printed base_url (http://gpu a:8005/v1), to time out after 30 minutes."""
    path = vllm_yaml(tmp_path, host)
    with pytest.raises(VLLMConfigError) as e:
        read_config(path)
    assert str(e.value).startswith(f"{path}: host: ") and words in str(e.value), str(e.value)


@pytest.mark.parametrize("host,where", [
    ("'::1'", "[::1]"), ("'::'", "[::1]"), ("'0:0:0:0:0:0:0:0'", "[::1]"), ("0.0.0.0", "127.0.0.1"),
    (None, "127.0.0.1"), ("''", "127.0.0.1"), ("gpu-node-1", "gpu-node-1"), ("10.0.0.7", "10.0.0.7"),
])
def test_an_ipv6_vllm_host_is_bracketed_in_its_urls(tmp_path, host, where):
    """host: ::1 had given http://::1:8005/health, a URL with no host; a server
    listening on every IPv6 address is reached on ::1 from here."""
    path = vllm_yaml(tmp_path, host)
    config = read_config(path)
    assert health_url(config) == f"http://{where}:8005/health"
    assert VLLMServer(path, config, tmp_path / "m.log").base_url == f"http://{where}:8005/v1"


def test_wood_serve_dry_run_prints_an_ipv6_servers_url_bracketed(tmp_path, capsys):
    roster = vllm_roster(tmp_path, vllm_yaml(tmp_path, "'::1'"), "http://[::1]:8005/v1")
    assert main(["serve", "--roster", str(roster), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "# m -> http://[::1]:8005/v1 (first)"


# --- serve.loopback and serve.batched: --host and --port ------------------------------

def _server(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args,words", [
    (["--host", "gpu a"], "argument --host: 'gpu a' is not a host name or an IP address"),
    (["--host", "[::1]"], "argument --host: '[::1]' is not a host name or an IP address"),
    (["--port", "70000"], "argument --port: expected a port from 0 to 65535, got '70000'"),
    (["--port", "-1"], "argument --port: expected a port from 0 to 65535, got '-1'"),
])
def test_loopback_host_and_port_are_checked_as_flags(args, words):
    """A bad --host had been a socket.gaierror traceback, --port 70000 an OverflowError one."""
    r = _server("serve.loopback", *args)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_batched_host_and_port_are_checked_as_flags():
    pytest.importorskip("llama_cpp")
    for args, words in ((["--host", "gpu a"], "argument --host: 'gpu a' is not a host name"),
                        (["--port", "70000"], "argument --port: expected a port from 0 to 65535")):
        r = _server("serve.batched", "--model", "x.gguf", *args)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("module,args,flag", [
    ("serve.loopback", ["--port", "0", "--port", "0"], "--port"),
    ("serve.loopback", ["--host", "127.0.0.1", "--host", "::1"], "--host"),
    ("serve.loopback", ["--latency-ms", "200", "--latency-ms", "0"], "--latency-ms"),
    ("serve.loopback", ["--seed", "1", "--seed", "2"], "--seed"),
    ("serve.loopback", ["--policy", "schema", "--policy", "pass"], "--policy"),
    ("serve.batched", ["--model", "a.gguf", "--model", "b.gguf"], "--model"),
    ("serve.batched", ["--model", "a.gguf", "--parallel", "8", "--parallel", "2"], "--parallel"),
])
def test_a_developer_servers_option_given_twice_is_a_usage_error(module, args, flag):
    """`python -m serve.loopback --port 8020 --port 8021` had listened on 8021
    (and every other option taken its last value) without a word, where `wood`
    refuses a repeat: both servers refuse it alike (`engine.flags.Once`),
    starting nothing."""
    if module == "serve.batched":
        pytest.importorskip("llama_cpp")
    r = _server(module, *args)
    assert r.returncode == 2 and r.stdout == "", (r.stdout, r.stderr)
    assert r.stderr.splitlines()[-1] == (f"python -m {module}: error: argument {flag}: given more than once: "
                                         "it takes one value"), r.stderr


@pytest.mark.parametrize("args,words", [
    (["--latency-ms", "nan"], "argument --latency-ms: expected 0 to 3,600,000 milliseconds, got 'nan'"),
    (["--latency-ms", "inf"], "argument --latency-ms: expected 0 to 3,600,000 milliseconds, got 'inf'"),
    (["--latency-ms", "-5"], "argument --latency-ms: expected 0 to 3,600,000 milliseconds, got '-5'"),
    (["--latency-ms", "3600001"], "argument --latency-ms: expected 0 to 3,600,000 milliseconds, got '3600001'"),
    # a server that took every request and served none
    (["--latency-ms", "10", "--concurrency", "0"], "argument --concurrency: expected 1 to 1,000,000, got 0"),
    (["--concurrency", "-1"], "argument --concurrency: expected 1 to 1,000,000, got -1"),
    (["--seed", "５"], "argument --seed: expected a whole number, got '５'"),
])
def test_loopback_numbers_out_of_their_range_are_usage_errors(args, words):
    """`--latency-ms nan`, `inf` or -5 and `--concurrency 0` had started a
    server (the last answering nothing), and `--seed ５` (full-width) had been
    read as 5: each is one line, exit 2, as `wood` reads its numbers
    (`engine.flags`)."""
    r = _server("serve.loopback", *args)
    assert r.returncode == 2 and r.stdout == "", (r.stdout, r.stderr)
    assert r.stderr.splitlines()[-1] == f"python -m serve.loopback: error: {words}", r.stderr


def test_the_loopbacks_repeatable_model_option_still_takes_each_name():
    """`--model` is declared to repeat: a server listing two names."""
    with LoopbackServer(models=("a", "b")) as srv:
        import httpx

        listed = httpx.get(f"{srv.base_url}/models", timeout=10).json()["data"]
    assert [m["id"] for m in listed] == ["a", "b"]


def test_loopback_on_a_taken_port_is_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = _server("serve.loopback", "--port", str(busy.getsockname()[1]))
    assert r.returncode == 1 and r.stderr.startswith("serve.loopback: ") and r.stderr.count("\n") == 1, r.stderr


def test_loopback_on_ipv6_prints_its_url_bracketed():
    from serve.loopback import served_at

    assert served_at("::1", 8010) == "http://[::1]:8010/v1"
    assert served_at(None, 8010) == "http://127.0.0.1:8010/v1"
    assert served_at("gpu-a", 8010) == "http://gpu-a:8010/v1"


# --- paths and commands printed by wood serve -------------------------------------

ESC = "\x1b[31m\u202e"  # a colour, then a right-to-left override: neither may reach the terminal raw


def test_dry_run_shows_a_config_path_with_escapes_escaped_as_the_shell_reads_it_back(tmp_path, capsys):
    """shlex.join had printed the path's ESC and bidi override as they were:
    the terminal turned red and the rest of the line ran right to left."""
    folder = tmp_path / f"cfg{ESC}"
    folder.mkdir()
    roster = vllm_roster(tmp_path, vllm_yaml(folder, "127.0.0.1"), "http://127.0.0.1:8005/v1")
    assert main(["serve", "--roster", str(roster), "--dry-run", "--vllm-bin", f"/opt/{ESC}/vllm"]) == 0
    out = capsys.readouterr().out
    assert out.isascii() and "\x1b" not in out, out
    command = out.splitlines()[1]
    assert command.isprintable() and "$'" not in command, command  # POSIX: dash reads it too
    for shell in ("sh", "bash"):
        echoed = subprocess.run([shell, "-c", f"printf '%s\\n' {command}"], capture_output=True, text=True).stdout
        assert echoed.splitlines() == [f"/opt/{ESC}/vllm", "serve", "--config", str(folder / "m.yaml")], shell


def test_dry_run_notes_show_a_cache_path_inert(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"cache{ESC}"))
    monkeypatch.chdir(ROOT)
    assert main(["serve", "--roster", "serve/rosters/embedded.toml", "--dry-run"]) == 0
    out = capsys.readouterr().out
    from engine.sanitise import shown_path

    assert "\x1b" not in out and "\u202e" not in out  # escaped, as shown_path does: the folder it names, no other
    assert f"written into {shown_path(tmp_path / f'cache{ESC}')}/thousand-token-wood/" in out, out


def test_the_logs_line_shows_a_log_dir_with_escapes_inert(tmp_path, capsys):
    """`logs in DIR` had printed --log-dir's escape sequence raw."""
    from serve.embedded import free_port

    port = free_port()
    roster = vllm_roster(tmp_path, vllm_yaml(tmp_path, "127.0.0.1", port), f"http://127.0.0.1:{port}/v1")
    rc = main(["serve", "--roster", str(roster), "--vllm-bin", "/bin/false", "--log-dir", str(tmp_path / f"logs{ESC}")])
    out, err = capsys.readouterr()
    assert rc == 2 and "exited during start" in err, err  # /bin/false is no vLLM
    from engine.sanitise import shown_path

    assert out.splitlines()[0] == f"logs in {shown_path(tmp_path / f'logs{ESC}')}", out  # escaped, not dropped
    assert "\x1b" not in out + err and "\u202e" not in out + err


# --- XDG folders --------------------------------------------------------------------

@pytest.mark.parametrize("value", ["relative/cache", "./cache", "~/cache", ""])
def test_a_relative_xdg_folder_is_ignored_as_the_spec_says(tmp_path, monkeypatch, value):
    """XDG_CACHE_HOME=relative/cache had put the requantized model (and a
    config dir the intro flag) in a new folder under wherever the game
    started; the spec calls such a value invalid, to be ignored."""
    from serve.embedded import cache_dir
    from wood_tui.screens.intro import config_dir

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WOOD_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", value)
    monkeypatch.setenv("XDG_CONFIG_HOME", value)
    assert cache_dir() == tmp_path / "home" / ".cache" / "thousand-token-wood"
    assert config_dir() == tmp_path / "home" / ".config" / "thousand-token-wood"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "k"))
    assert cache_dir() == tmp_path / "c" / "thousand-token-wood"
    assert config_dir() == tmp_path / "k" / "thousand-token-wood"


@pytest.fixture
def no_home(monkeypatch, tmp_path):
    """HOME unset and no password-database entry for this uid (a container run
    as a bare uid): Path.home() raises RuntimeError. The temporary folder is tmp_path."""
    import pwd

    def nobody(uid):
        raise KeyError(f"getpwuid(): uid not found: {uid}")
    monkeypatch.setattr(pwd, "getpwuid", nobody)
    for var in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "WOOD_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with pytest.raises(RuntimeError):
        Path.home()


def test_with_no_home_folder_a_default_folder_is_one_clear_line_and_a_given_one_works(no_home, monkeypatch,
                                                                                      tmp_path):
    """Path.home()'s RuntimeError ('Could not determine home directory.') had
    reached the user as a traceback from wherever a default folder was asked for."""
    from engine.xdg import NoHome, xdg_home
    from serve.embedded import cache_dir
    from wood_tui.screens.intro import config_dir

    with pytest.raises(NoHome) as e:
        cache_dir()
    assert str(e.value) == (f"cannot find the home folder for ~/.cache (HOME is not set and user {os.getuid()} has no "
                            "entry in the password database): set HOME, or XDG_CACHE_HOME to an absolute path")
    with pytest.raises(NoHome, match=r"~/\.config .*: set HOME, or XDG_CONFIG_HOME to an absolute path$"):
        config_dir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("WOOD_CONFIG_DIR", str(tmp_path / "w"))
    assert cache_dir() == tmp_path / "c" / "thousand-token-wood" and config_dir() == tmp_path / "w"
    monkeypatch.setenv("HOME", "relative")  # Path.home() takes it as it is: ./relative/.cache, wherever wood ran
    with pytest.raises(NoHome, match="HOME is 'relative', not an absolute path"):
        xdg_home("XDG_CONFIG_HOME", ".config")


def test_serve_dry_run_with_no_home_folder_shows_where_the_copy_goes_and_why(no_home, tmp_path, capsys,
                                                                            monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["serve", "--roster", "serve/rosters/embedded.toml", "--dry-run"]) == 0
    out = capsys.readouterr().out
    spare = tmp_path / f"thousand-token-wood-{os.getuid()}"
    assert f"written into {spare}/ on the first start" in out, out
    assert (f"# the requantized copy is kept in {spare}, not a cache folder: cannot find the home folder for "
            "~/.cache (HOME is not set") in out, out
    assert list(tmp_path.iterdir()) == []  # a dry run makes nothing
    spare.mkdir()
    spare.chmod(0o777)  # another user could have put a model file here: the start would refuse it
    assert main(["serve", "--roster", "serve/rosters/embedded.toml", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"# the shipped file is served: {spare} is not a folder of this user's alone, and there is no cache " \
           "folder (cannot find the home folder" in out and "MODEL" not in out, out


def test_the_embedded_model_with_no_home_folder_is_kept_in_the_spare_folder_and_says_why(no_home, tmp_path,
                                                                                         monkeypatch, caplog):
    """The warning had been built by asking for the cache folder again: its
    RuntimeError made the copy made in the spare folder unused, the slower
    shipped file served, and the line said the spare folder had failed."""
    import serve.embedded as embedded

    def quantize(src, out, quant):
        out.write_bytes(b"GGUF, requantized")
    monkeypatch.setattr(embedded, "_run_quantize", quantize)
    with caplog.at_level("WARNING", logger="serve.embedded"):
        srv = embedded.EmbeddedServer()
        made = srv.prepare_model()
    spare = tmp_path / f"thousand-token-wood-{os.getuid()}"
    assert made.parent == spare, srv.model_note
    assert srv.model_note == ("could not keep the requantized embedded model in the cache folder (cannot find the "
                              f"home folder for ~/.cache (HOME is not set and user {os.getuid()} has no entry in the "
                              "password database): set HOME, or XDG_CACHE_HOME to an absolute path); "
                              f"made it in {spare}"), srv.model_note
    assert len(caplog.records) == 1


def test_wood_play_with_no_home_folder_shows_the_introduction_remembering_it_nowhere(no_home, tmp_path,
                                                                                     monkeypatch):
    """`wood play` had been a traceback: its config folder (where the seen
    introduction is remembered) is under the home folder."""
    import wood_tui.game

    apps = []
    monkeypatch.setattr(wood_tui.game, "run_app", lambda app: apps.append(app) or 0)
    assert main(["play", "--brains", "scripted", "--seed", "1"]) == 0
    assert apps[0].config_dir is None and apps[0].intro
    assert list(tmp_path.iterdir()) == []


# --- a roster or a vLLM config with a byte-order mark, or not UTF-8 -------------------

BOM = b"\xef\xbb\xbf"


def test_a_roster_and_a_vllm_config_with_a_byte_order_mark_are_read(tmp_path, capsys):
    """Saved by Notepad, a roster had been 'Invalid statement (at line 1,
    column 1)' and a vLLM config 'expected `key: value`' at its line 1."""
    config = vllm_yaml(tmp_path, "127.0.0.1")
    config.write_bytes(BOM + config.read_bytes())
    roster = vllm_roster(tmp_path, config, "http://127.0.0.1:8005/v1")
    roster.write_bytes(BOM + roster.read_bytes())
    assert read_config(config)["model"] == "stub/m"
    assert main(["serve", "--roster", str(roster), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "# m -> http://127.0.0.1:8005/v1 (first)"


@pytest.mark.parametrize("which", ["roster", "config"])
def test_a_roster_or_vllm_config_that_is_not_utf8_says_where(tmp_path, capsys, which):
    """It had said "'utf-8' codec can't decode byte 0xe9 in position 37: invalid continuation byte"."""
    config = vllm_yaml(tmp_path, "127.0.0.1")
    roster = vllm_roster(tmp_path, config, "http://127.0.0.1:8005/v1")
    bad = roster if which == "roster" else config
    bad.write_bytes(bad.read_bytes().replace(b"model", "modèle".encode("latin-1"), 1))
    line = one_error(capsys, ["serve", "--roster", str(roster), "--dry-run"])
    what = "cannot read roster" if which == "roster" else f"roster {roster}: model m: cannot read vLLM config"
    assert line == f"wood: error: {what} {bad}: it is not UTF-8 text (byte 0xe8 at offset " \
                   f"{bad.read_bytes().index(0xe8)}); save it as UTF-8", line



def test_a_vllm_config_that_is_a_folder_is_one_line_naming_it_once(tmp_path, capsys):
    """It had been Python's own text: 'cannot read vLLM config C: [Errno 21] Is a directory: 'C''."""
    config = tmp_path / "m.yaml"
    config.mkdir()
    roster = vllm_roster(tmp_path, config, "http://127.0.0.1:8005/v1")
    line = one_error(capsys, ["serve", "--roster", str(roster), "--dry-run"])
    assert line == f"wood: error: roster {roster}: model m: cannot read vLLM config {config}: " \
                   "it is a directory, not a YAML file", line


# --- --vllm-bin ---------------------------------------------------------------------

def _vllm_bins(tmp_path: Path) -> dict[str, tuple[str, str]]:
    (tmp_path / "not-executable").write_text("#!/bin/sh\n")
    (tmp_path / "a-folder").mkdir()
    return {  # what --vllm-bin names: (the path, what the one line says)
        "a folder": (str(tmp_path / "a-folder"), "is a directory, not the vllm executable"),
        "not executable": (str(tmp_path / "not-executable"), "is not executable (no execute permission: chmod +x it?)"),
        "nothing": (str(tmp_path / "nothing"), "no such executable"),
    }


@pytest.mark.parametrize("case", ["a folder", "not executable", "nothing"])
def test_a_vllm_bin_that_cannot_run_is_one_line_before_anything_is_made(tmp_path, capsys, monkeypatch, case):
    """A folder or a file without the execute bit had been 'no such executable', as a path to nothing is."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))  # where a log folder would be made
    (tmp_path / "tmp").mkdir()
    path, words = _vllm_bins(tmp_path)[case]
    roster = vllm_roster(tmp_path, vllm_yaml(tmp_path, "127.0.0.1"), "http://127.0.0.1:8005/v1")
    assert one_error(capsys, ["serve", "--roster", str(roster), "--vllm-bin", path]) == \
        f"wood: error: --vllm-bin {path}: {words}"
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("case", ["a folder", "not executable"])
def test_a_dry_run_refuses_a_vllm_bin_that_cannot_run_here(tmp_path, capsys, case):
    """`wood serve --dry-run --vllm-bin /tmp` had printed `/tmp serve
    --config ...`, a folder as the program to run. A folder, or a file without
    the execute bit, is the same one line as without --dry-run, and nothing
    is printed; a path to nothing here is printed as given (the lines may be
    for another machine)."""
    path, words = _vllm_bins(tmp_path)[case]
    roster = vllm_roster(tmp_path, vllm_yaml(tmp_path, "127.0.0.1"), "http://127.0.0.1:8005/v1")
    capsys.readouterr()
    assert main(["serve", "--roster", str(roster), "--dry-run", "--vllm-bin", path]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"wood: error: --vllm-bin {path}: {words}\n")
    elsewhere = str(tmp_path / "nothing")
    assert main(["serve", "--roster", str(roster), "--dry-run", "--vllm-bin", elsewhere]) == 0
    assert capsys.readouterr().out.splitlines()[1] == f"{elsewhere} serve --config {tmp_path / 'm.yaml'}"


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_vllm_bin_is_a_usage_error(tmp_path, capsys, value):
    """It had said 'vllm not found: install it on a GPU machine', of a flag given empty."""
    roster = vllm_roster(tmp_path, vllm_yaml(tmp_path, "127.0.0.1"), "http://127.0.0.1:8005/v1")
    assert one_error(capsys, ["serve", "--roster", str(roster), "--vllm-bin", value]) == \
        "wood: error: argument --vllm-bin: expected the vllm executable (a name on PATH, or a path), got an empty string"


def test_a_vllm_bin_that_is_no_program_is_one_line_and_leaves_no_log_folder(tmp_path, capsys, monkeypatch):
    """Executable but not a program (no #! line): exec fails with 'Exec format
    error'. It had been an OSError traceback after 'starting m on :PORT ...',
    leaving the temporary log folder with an empty log behind."""
    from serve.embedded import free_port

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    junk = tmp_path / "vllm"
    junk.write_bytes(b"\x00\x01 not a program\n")
    junk.chmod(0o755)
    port = free_port()
    roster = vllm_roster(tmp_path, vllm_yaml(tmp_path, "127.0.0.1", port), f"http://127.0.0.1:{port}/v1")
    capsys.readouterr()
    assert main(["serve", "--roster", str(roster), "--vllm-bin", str(junk)]) == 2
    out, err = capsys.readouterr()
    assert err == f"wood: error: cannot run {junk} for m: Exec format error\n", err
    assert out.splitlines()[-1] == f"starting m on :{port} ... ", out  # the line it began, ended
    assert list((tmp_path / "tmp").iterdir()) == []


# --- a roster model's base_url against its vLLM config --------------------------------

def test_a_vllm_models_url_without_a_port_says_so_naming_the_roster(tmp_path, capsys):
    """It had said 'model m: base_url port None does not match port 8005 in
    m.yaml', not saying which roster."""
    config = vllm_yaml(tmp_path, "127.0.0.1")
    roster = vllm_roster(tmp_path, config, "http://127.0.0.1/v1")
    assert one_error(capsys, ["serve", "--roster", str(roster), "--dry-run"]) == \
        f"wood: error: roster {roster}: model m: base_url http://127.0.0.1/v1 names no port; {config} serves on port 8005"
    config.write_text(config.read_text().replace("host: 127.0.0.1", "host: gpu a"))
    assert one_error(capsys, ["serve", "--roster", str(roster), "--dry-run"]) == \
        f"wood: error: roster {roster}: model m: {config}: host: 'gpu a' is not a host name or an IP address " \
        "(letters, digits, '-', '_' and dots)"


# --- wood sweep: a roster file name and --out with escapes ------------------------------

def test_sweep_shows_no_path_raw_and_refuses_a_roster_file_name_with_escapes(tmp_path, capsys):
    """--out's escape sequence had reached the terminal in 'runs in DIR' (and
    a failed run's 'see LOG'); a roster file named so, in every table line."""
    scripted = ("".join(f'[[creatures]]\nname = "{n}"\nspecies = "{n.lower()}"\nmodel = "scripted"\n'
                        for n in ("Owl", "Fox")))
    odd = tmp_path / f"red{ESC}.toml"
    odd.write_text(scripted)
    line = one_error(capsys, ["sweep", "--roster", str(odd), "--seeds", "1", "--rounds", "2",
                              "--out", str(tmp_path / "o")])
    assert "cannot name a folder of runs" in line and "\x1b" not in line, line
    plain = tmp_path / "plain.toml"
    plain.write_text(scripted)
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "sweep", "--roster", str(plain), "--seeds", "1",
                        "--rounds", "2", "--jobs", "1", "--out", str(tmp_path / f"out{ESC}")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    from engine.sanitise import shown_path

    assert f"(runs in {shown_path(tmp_path / f'out{ESC}')})" in r.stdout, r.stdout  # escaped, not dropped
    assert "\x1b" not in r.stdout + r.stderr and "\u202e" not in r.stdout + r.stderr


# --- a flag that takes one file or folder, given twice ---------------------------------

@pytest.mark.parametrize("argv,flag,metavar", [
    (["serve", "--dry-run", "--roster", "{d}/a.toml", "--roster", "{d}/b.toml"], "--roster", "FILE"),
    (["serve", "--roster=a.toml", "--ros", "b.toml"], "--roster", "FILE"),  # = and an abbreviation are the flag too
    (["serve", "--roster", "a.toml", "--log-dir", "{d}/l1", "--log-dir", "{d}/l2"], "--log-dir", "DIR"),
    (["serve", "--roster", "a.toml", "--vllm-bin", "/a/vllm", "--vllm-bin", "/b/vllm"], "--vllm-bin", "PATH"),
    (["sim", "--roster", "{d}/a.toml", "--roster", "{d}/b.toml"], "--roster", "FILE"),
    (["sim", "--save", "{d}/a.db", "--save", "{d}/b.db"], "--save", "PATH"),
    (["watch", "--resume", "{d}/a.db", "--resume", "{d}/b.db"], "--resume", "PATH"),
    (["play", "--roster", "{d}/a.toml", "--roster", "{d}/b.toml"], "--roster", "FILE"),
    (["export", "{d}/x.db", "--out", "{d}/o1", "--out", "{d}/o2"], "--out", "DIR"),
    (["export", "{d}/x.db", "--sft", "{d}/a.jsonl", "--sft", "{d}/b.jsonl"], "--sft", "FILE.jsonl"),
    (["export", "{d}/x.db", "--sft", "{d}/a.jsonl", "--holdout-seeds", "1", "--holdout", "{d}/h1.jsonl",
      "--holdout", "{d}/h2.jsonl"], "--holdout", "FILE.jsonl"),
    # seed 1 would have gone into the training set unheld
    (["export", "{d}/x.db", "--sft", "{d}/a.jsonl", "--holdout-seeds", "1", "--holdout-seeds", "2"],
     "--holdout-seeds", "SEEDS"),
    (["report", "{d}/x.db", "--plots", "{d}/p1", "--plots", "{d}/p2"], "--plots", "DIR"),
    (["sweep", "--roster", "{d}/a.toml", "--out", "{d}/o1", "--out", "{d}/o2"], "--out", "DIR"),
    (["sweep", "--roster", "{d}/a.toml", "--plots", "{d}/p1", "--plots", "{d}/p2"], "--plots", "DIR"),
])
def test_a_flag_that_takes_one_file_given_twice_is_a_usage_error(tmp_path, capsys, argv, flag, metavar):
    """`wood serve --roster a.toml --roster b.toml` had served b alone, a
    dropped without a word; each flag naming one file or folder the same
    (the last one given won). Nothing is made."""
    line = one_error(capsys, [a.format(d=tmp_path) for a in argv])
    assert line == f"wood: error: argument {flag}: given more than once: it takes one {metavar}", line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv,flag,one", [
    (["sim", "--seed", "1", "--seed", "2"], "--seed", "value"),
    (["sim", "--rounds", "5", "--rounds", "6"], "--rounds", "value"),
    (["sim", "--creatures", "3", "--creatures", "4"], "--creatures", "value"),
    (["sim", "--brains", "scripted", "--brains", "llm"], "--brains", "value"),
    (["watch", "--delay", "1", "--delay", "2"], "--delay", "SECONDS"),
    (["play", "--seats", "1", "--seats", "2"], "--seats", "value"),
    (["play", "--as", "Owl", "--species", "owl", "--species", "fox"], "--species", "SPECIES"),
    (["report", "{d}/x.db", "--gpu-hour-price", "1", "--gpu-hour-price", "2"], "--gpu-hour-price", "PRICE"),
    (["export", "{d}/x.db", "--sft", "{d}/a.jsonl", "--rounds", "1-5", "--rounds", "6-9"], "--rounds", "value"),
    (["export", "{d}/x.db", "--sft", "{d}/a.jsonl", "--outcome", "clean", "--outcome", "repaired"], "--outcome",
     "value"),
    (["sweep", "--roster", "{d}/a.toml", "--seeds", "1-3", "--seeds", "4"], "--seeds", "SEEDS"),
    (["sweep", "--roster", "{d}/a.toml", "--jobs", "1", "--jobs", "2"], "--jobs", "value"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_any_option_that_takes_one_value_given_twice_is_a_usage_error(tmp_path, capsys, argv, flag, one):
    """`wood sim --seed 1 --seed 2` had run seed 2 without a word (and so
    --rounds, --as's --species, a price...), where --save refused a second:
    every option that stores one value refuses it alike. Nothing is made."""
    line = one_error(capsys, [a.format(d=tmp_path) for a in argv])
    assert line == f"wood: error: argument {flag}: given more than once: it takes one {one}", line
    assert list(tmp_path.iterdir()) == []


def test_every_option_of_every_command_takes_one_value_or_says_it_repeats():
    """No option of `wood` is left to take the last of several values: each
    stores once, or is a switch, or is declared to repeat (`append`)."""
    import argparse

    from wood_tui.cli import build_parser
    from engine.flags import Once

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    lax = [f"{name} {a.option_strings[-1]}" for name, p in sub.choices.items() for a in p._actions
           if a.option_strings and not isinstance(a, (Once, argparse._StoreConstAction, argparse._AppendAction,
                                                      argparse._HelpAction))]
    assert lax == []


def test_options_meant_to_repeat_still_take_each_value():
    """`--as` (hot-seat), sweep's `--roster` and export's `--model` repeat."""
    from wood_tui.cli import build_parser

    p = build_parser()
    assert p.parse_args(["play", "--as", "Owl", "--as", "Fox"]).seat_names == ["Owl", "Fox"]
    assert p.parse_args(["sweep", "--roster", "a.toml", "--roster", "b.toml"]).roster == ["a.toml", "b.toml"]
    assert p.parse_args(["export", "x.db", "--model", "m", "--model", "n"]).model == ["m", "n"]


# --- a seed past 64 bits, however it is typed ----------------------------------------

@pytest.mark.parametrize("argv", [
    ["export", "{d}/x.db", "--sft", "{d}/a.jsonl", "--holdout-seeds", str(2**63)],
    ["export", "{d}/x.db", "--sft", "{d}/a.jsonl", "--holdout-seeds", f"1,{-2**63 - 1}"],
    ["export", "{d}/x.db", "--sft", "{d}/a.jsonl", "--holdout-seeds", f"{2**63 - 1}-{2**63}"],
    ["sweep", "--roster", "{d}/a.toml", "--seeds", str(2**64)],
    ["sim", "--seed", str(2**63)],
], ids=["export", "export-negative", "export-range", "sweep", "sim"])
def test_a_seed_past_64_bits_is_refused_by_every_flag_alike(tmp_path, capsys, argv):
    """`wood export --holdout-seeds 9223372036854775808` had been taken, a
    seed no run can have (`--seed` refuses it): it held out nothing."""
    from engine.state import SEEDS

    line = one_error(capsys, [a.format(d=tmp_path) for a in argv])
    assert line.startswith(f"wood: error: argument --{argv[-2].lstrip('-')}: expected ") and \
        f" from {SEEDS}, got {argv[-1]}" in line, line
    assert list(tmp_path.iterdir()) == []


def test_the_widest_seeds_are_still_taken_by_every_flag():
    from wood_tui.cli import build_parser

    lo, hi = -2**63, 2**63 - 1
    assert build_parser().parse_args(["export", "x.db", f"--holdout-seeds={lo},{hi}"]).holdout_seeds == [lo, hi]
    assert build_parser().parse_args(["sweep", "--roster", "a", "--seeds", f"{hi}"]).seeds == [hi]
    assert build_parser().parse_args(["sim", "--seed", f"{lo}"]).seed == lo


# --- a NUL byte in a path (in-process callers can pass one; no system call takes it) ----

@pytest.mark.parametrize("argv,flag,what", [
    (["serve", "--roster", "{roster}", "--dry-run", "--log-dir", "{d}/l\0gs"], "--log-dir", "directory path"),
    (["serve", "--roster", "{roster}", "--log-dir", "{d}/l\0gs"], "--log-dir", "directory path"),
    (["export", "{save}", "--out", "{d}/o\0"], "--out", "directory path"),
    (["export", "{save}", "--sft", "{d}/s\0.jsonl"], "--sft", "file path"),
    (["export", "{save}", "--sft", "{d}/s.jsonl", "--holdout-seeds", "1", "--holdout", "{d}/h\0.jsonl"],
     "--holdout", "file path"),
    (["report", "{save}", "--plots", "{d}/p\0"], "--plots", "directory path"),
    (["sweep", "--roster", "{d}/r\0.toml", "--seeds", "1", "--rounds", "2", "--out", "{d}/sw"], "--roster",
     "file path"),
    (["sweep", "--roster", "{roster}", "--seeds", "1", "--rounds", "2", "--out", "{d}/sw\0"], "--out",
     "directory path"),
    (["sweep", "--roster", "{roster}", "--seeds", "1", "--rounds", "2", "--out", "{d}/sw", "--plots", "{d}/p\0"],
     "--plots", "directory path"),
    (["sim", "--rounds", "2", "--save", "{d}/r\0.db"], "--save", "file path"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_nul_byte_in_a_path_flag_is_a_usage_error_naming_the_flag(tmp_path, capsys, argv, flag, what):
    """`wood_tui.cli.main([..., "--out", "o\\0"])` had ended in a traceback
    (ValueError: embedded null byte), a sweep's folder of runs made first."""
    save = ROOT / "tests" / "nul-save-not-read.db"  # refused before it is opened
    roster = ROOT / "serve" / "rosters" / "embedded.toml"
    d = tmp_path / "d"
    d.mkdir()
    line = one_error(capsys, [a.format(d=d, save=save, roster=roster) for a in argv])
    assert line == f"wood: error: argument {flag}: a {what} cannot contain a NUL byte", line
    assert list(d.iterdir()) == []


# --- a file named with a trailing slash (pathlib drops it) -------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("slash")
    assert main(["sim", "--rounds", "2", "--save", str(d / "base.db"), "--quiet"]) == 0
    (d / "r.toml").write_text('[[creatures]]\nname = "Owl"\nspecies = "owl"\nmodel = "scripted"\n'
                              '[[creatures]]\nname = "Fox"\nspecies = "fox"\nmodel = "scripted"\n')
    return d


@pytest.mark.parametrize("argv,flag,what,end", [
    (["report", "{d}/base.db/"], "RUN.db", "file path", "/"),
    (["report", "{d}/base.db/."], "RUN.db", "file path", "/."),
    (["replay", "{d}/base.db/", "--verify"], "PATH", "file path", "/"),
    (["sim", "--resume", "{d}/base.db/", "--rounds", "3"], "--resume", "file path", "/"),
    (["watch", "--resume", "{d}/base.db/", "--rounds", "3"], "--resume", "file path", "/"),
    (["export", "{d}/base.db/", "--out", "{d}/o"], "RUN.db", "save file or a folder", "/"),
    (["export", "{d}/base.db/", "--sft", "{d}/s.jsonl"], "RUN.db", "save file or a folder", "/"),
    (["sim", "--roster", "{d}/r.toml/", "--rounds", "2"], "--roster", "file path", "/"),
    (["sweep", "--roster", "{d}/r.toml/", "--seeds", "1", "--rounds", "2", "--out", "{d}/sw"], "--roster",
     "file path", "/"),
    (["serve", "--roster", "{d}/r.toml/", "--dry-run"], "--roster", "file path", "/"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_a_file_named_with_a_trailing_slash_is_refused_by_every_command(saved, capsys, argv, flag, what, end):
    """`wood report base.db/` (and `--resume base.db/`, `wood export
    base.db/`, `--roster r.toml/`) had read the file base.db: pathlib drops
    the slash, where `--save x.db/` was refused. A name ending in / names a
    folder: one usage line, as --save's, and nothing is read or written."""
    before = sorted(p.name for p in saved.iterdir())
    stamp = (saved / "base.db").stat().st_mtime_ns
    line = one_error(capsys, [a.format(d=saved) for a in argv])
    given = next(a.format(d=saved) for a in argv if a.endswith(end))
    assert line == (f"wood: error: argument {flag}: expected a {what}, got {given}: "
                    f"a name ending in {end} is a folder's"), line
    assert sorted(p.name for p in saved.iterdir()) == before and (saved / "base.db").stat().st_mtime_ns == stamp


def test_export_still_takes_a_folder_or_nothing_named_with_a_trailing_slash(tmp_path):
    """A folder of saves ends in / as a folder's name may (`wood export runs/
    --sft S`); where nothing is, opening it says so, as before."""
    from wood_tui.cli import build_parser

    (tmp_path / "runs").mkdir()
    for name in ("runs/", "runs/.", "nothing/"):
        args = build_parser().parse_args(["export", f"{tmp_path}/{name}", "--sft", str(tmp_path / "s.jsonl")])
        assert args.paths == [f"{tmp_path}/{name}"]


@pytest.mark.parametrize("command", ["sim", "watch", "play"])
def test_the_creatures_help_says_a_roster_takes_none(command):
    """`--creatures` had said '(default: the five of the roster)': a --roster
    of three (or a [crowd] of 1,000) is not five, and --roster with
    --creatures is refused. The help now says the five are the default and
    that a --roster lists its own."""
    from engine.errors import WoodError
    from wood_tui.cli import build_parser
    from wood_tui.options import RunOptions

    [sub] = [a for a in build_parser()._actions if a.dest == "command"]
    [flag] = [a for a in sub.choices[command]._actions if "--creatures" in a.option_strings]
    assert "default five" in flag.help and "not with --roster" in flag.help, flag.help
    with pytest.raises(WoodError, match="takes no --creatures"):
        RunOptions.parse(command, ["--roster", "scripted.toml", "--creatures", "3"])


# --- a save whose name begins with a dash ------------------------------------------

HINT = "; -x.db is a file: name it ./-x.db, or end the command with -- -x.db"


@pytest.mark.parametrize("argv,said", [
    (["report", "-x.db"], "the following arguments are required: RUN.db" + HINT),
    (["replay", "-x.db", "--verify"], "the following arguments are required: PATH" + HINT),
    (["export", "-x.db", "--out", "audit"], "the following arguments are required: RUN.db" + HINT),
    (["export", "run.db", "-x.db", "--sft", "set.jsonl"], "unrecognized arguments: -x.db" + HINT),
    (["report", "-y.db"], "the following arguments are required: RUN.db"),  # no such file: no hint
    (["sim", "-x.db"], "unrecognized arguments: -x.db"),  # a command that takes no path
    (["report", "run.db", "-x.db"], "unrecognized arguments: -x.db"),  # one save it takes, and it has it
])
def test_a_save_named_with_a_dash_is_told_how_to_name_it(tmp_path, monkeypatch, capsys, argv, said):
    """`wood report -x.db` had said only 'the following arguments are
    required: RUN.db': argparse takes -x.db for an unknown option. Where it
    names a file, every command taking save paths says how to name it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-x.db").touch()
    assert one_error(capsys, argv) == f"wood: error: {said}"


@pytest.mark.parametrize("name,shown", [("", "''"), ("  ", "'  '"), ("a\x1b[31mb", "'a\\x1b[31mb'"),
                                        ("m\nn", "'m\\nn'")])
def test_export_model_filter_that_is_no_model_name_is_a_usage_error(tmp_path, capsys, name, shown):
    """`wood export RUN.db --sft S --model ''` had looked for a model called
    nothing and said '--model : no creature ... played it'; an escape
    sequence was dropped from that line, naming a model not typed. A --model
    is a model's name as a roster gives it, or one usage line, before any
    save is read (here there is none)."""
    line = one_error(capsys, ["export", str(tmp_path / "x.db"), "--sft", str(tmp_path / "s.jsonl"), "--model", name])
    assert line == (f"wood: error: argument --model: model name {shown} is not a plain name (1-200 characters of "
                    "printable text, no control characters, no leading or trailing spaces or runs of spaces)"), line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv,flag,value,seeds", [
    (["sweep", "--roster", "r.toml", "--seeds", "-3--1"], "--seeds", "-3--1", [-3, -2, -1]),
    (["export", "run.db", "--sft", "s.jsonl", "--holdout-seeds", "-3-1"], "--holdout-seeds", "-3-1", [-3, -2, -1, 0, 1]),
])
def test_a_dashed_range_is_told_how_to_give_it(tmp_path, monkeypatch, capsys, argv, flag, value, seeds):
    """`wood sweep --seeds -3--1` (negative seeds, which a sweep plays) had
    said only 'argument --seeds: expected one argument': argparse reads a
    word that begins with a dash, and is no plain negative number, as an
    option. The line now says how to give it, and that way is taken."""
    monkeypatch.chdir(tmp_path)
    assert one_error(capsys, argv) == (f"wood: error: argument {flag}: expected one argument; to give {value}, "
                                       f"which begins with a dash, write {flag}={value}")
    from wood_tui.cli import build_parser

    joined = [w for w in argv if w not in (flag, value)] + [f"{flag}={value}"]
    args = build_parser().parse_args(joined)
    assert getattr(args, flag[2:].replace("-", "_")) == seeds


@pytest.mark.parametrize("argv,written", [
    (["sweep", "--roster", "r.toml", "--seeds", "1", "--seeds", "-3--1"], "--seeds=-3--1"),  # not the first --seeds
    (["sweep", "--roster", "r.toml", "--see", "-3--1"], "--see=-3--1"),  # a start of the flag, as argparse takes it
])
def test_a_dashed_range_after_a_repeated_or_shortened_flag_is_told_how_to_give_it(tmp_path, monkeypatch, capsys,
                                                                                   argv, written):
    """The hint looked only at the first word that was the flag itself: after
    `--seeds 1`, or with `--see` (which argparse takes for --seeds), a dashed
    value got argparse's bare line."""
    monkeypatch.chdir(tmp_path)
    assert one_error(capsys, argv) == ("wood: error: argument --seeds: expected one argument; to give -3--1, which "
                                       f"begins with a dash, write {written}")


def test_a_flag_missing_its_value_gets_no_dash_hint(capsys):
    """The hint is only for a value that begins with a dash: a flag followed by another flag is only missing its value."""
    assert one_error(capsys, ["sweep", "--roster", "r.toml", "--seeds", "--json"]) == \
        "wood: error: argument --seeds: expected one argument"
