"""`wood export --sft`: a fine-tuning set a trainer reads as it is.

Two runs (seeds 1 and 2) where two creatures think with a model on a real
HTTP server on 127.0.0.1 that answers well, badly and not at all, beside
scripted traders. The export is loaded with Hugging Face `datasets` (what
TRL's SFTTrainer is handed), every example is system + user + assistant,
and every assistant turn is an action the engine accepts as it stands."""
from __future__ import annotations

import json
import stat
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.actions import Action
from engine.ledger import Ledger
from engine.parsing import parse_reply
from engine.world import load_world

from .fault_server import FaultServer

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 10
CREATURES = (("Owl", "cautious", "scripted"), ("Fox", "speculator", "flaky"), ("Badger", "hoarder", "flaky"),
             ("Hare", "generous", "scripted"), ("Squirrel", "merchant", "scripted"))
# per run: clean, repaired (fenced, think), rejected (garbage), fault (500), then valid replies
SCENARIOS = ("valid", "fenced", "garbage", "think", "http_500", "half_json")


def wood(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "wood_tui.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def flaky_roster(srv: FaultServer) -> str:
    """The roster of these tests: CREATURES, the model ones on `srv`'s flaky model."""
    roster = (f'[models.flaky]\nbase_url = "{srv.base_url}"\nmodel = "smollm2"\njson_mode = "json_object_schema"\n'
              "max_concurrency = 2\ntimeout_s = 2\nconnect_timeout_s = 1\nmax_tokens = 64\n")
    return roster + "".join(f'\n[[creatures]]\nname = "{n}"\nspecies = "{n.lower()}"\ntemperament = "{t}"\n'
                            f'model = "{m}"\n' for n, t, m in CREATURES)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("sft")
    (d / "runs").mkdir()
    with FaultServer() as srv:
        (d / "roster.toml").write_text(flaky_roster(srv))
        for seed in (1, 2):
            srv.play(*SCENARIOS)
            r = wood("sim", "--roster", str(d / "roster.toml"), "--rounds", str(ROUNDS), "--seed", str(seed),
                     "--save", str(d / "runs" / f"seed-{seed}.db"), "--quiet")
            assert r.returncode == 0, r.stderr
    return d


def calls(db: Path) -> list[dict]:
    ledger = Ledger.open(db)
    try:
        return list(ledger.calls())
    finally:
        ledger.close()


def applied(db: Path, outcomes=("clean",), rounds=(1, ROUNDS)) -> list[dict]:
    return [c for c in calls(db) if c["outcome"] in outcomes and c["action"] is not None
            and rounds[0] <= c["round"] <= rounds[1]]


def test_the_set_loads_with_datasets_and_every_reply_is_a_valid_action(runs, tmp_path):
    from datasets import load_dataset

    train, held = tmp_path / "sft.jsonl", tmp_path / "sft.heldout.jsonl"
    r = wood("export", str(runs / "runs"), "--sft", str(train), "--holdout-seeds", "2", "--outcome", "clean,repaired")
    assert r.returncode == 0, r.stderr
    one, two = runs / "runs" / "seed-1.db", runs / "runs" / "seed-2.db"
    from wood_tui.commands.export import sft_example

    want_train, want_held = applied(one, ("clean", "repaired")), applied(two, ("clean", "repaired"))
    assert {c["outcome"] for c in want_train} == {"clean", "repaired"}  # the run had both, and the rest
    assert {c["outcome"] for c in calls(one)} == {"clean", "repaired", "rejected", "fault"}
    held_out = [sft_example(c) for c in want_held]
    twins = [c for c in want_train if sft_example(c) in held_out]  # the same word for word: left out of training
    want_train = [c for c in want_train if c not in twins]
    assert (f"wrote {len(want_train)} examples from 1 run to {train}"
            + (f" (left out: {len(twins)} example{'s' if len(twins) > 1 else ''} the same as a held-out one)"
               if twins else "")
            + f" and {len(want_held)} held-out examples from 1 run (seed 2) to {held}") in r.stdout

    ds = load_dataset("json", data_files={"train": str(train), "test": str(held)})
    assert ds["train"].num_rows == len(want_train) and ds["test"].num_rows == len(want_held)
    assert ds["train"].column_names == ["messages"]  # the conversational shape, nothing else to drop
    goods, names = load_world().good_names, tuple(n for n, _, _ in CREATURES)
    for split, want in (("train", want_train), ("test", want_held)):
        for ex, call in zip(ds[split], want):
            roles = [m["role"] for m in ex["messages"]]
            assert roles == ["system", "user", "assistant"], roles
            assert ex["messages"][:2] == [{"role": m["role"], "content": m["content"]} for m in call["messages"]]
            reply = ex["messages"][-1]["content"]
            action = Action.model_validate_json(reply)  # validates as an action, as it stands
            assert action.compact() == call["action"]
            parsed = parse_reply(reply, goods, names)
            assert parsed.outcome == "clean" and parsed.action == action  # nothing to repair in a reply we teach


def test_a_training_example_the_same_as_a_held_out_one_is_left_out(runs, tmp_path):
    """A held-out run whose examples are word for word those of a training
    run (here a copy of seed 1's save, called seed 3): the training file keeps
    none of them, and the summary says how many it left out."""
    import shutil
    import sqlite3

    twin = tmp_path / "twin.db"
    shutil.copyfile(runs / "runs" / "seed-1.db", twin)
    con = sqlite3.connect(twin)
    con.execute("UPDATE meta SET value = '3' WHERE key = 'seed'")
    con.commit()
    con.close()
    train = tmp_path / "sft.jsonl"
    r = wood("export", str(runs / "runs"), str(twin), "--sft", str(train), "--holdout-seeds", "3")
    assert r.returncode == 0, r.stderr
    held = [json.loads(x) for x in (tmp_path / "sft.heldout.jsonl").read_text().splitlines()]
    kept = [json.loads(x) for x in train.read_text().splitlines()]
    assert len(held) == len(applied(twin)) > 0
    assert kept and not any(x in held for x in kept)  # seed 2's examples stay, unless one is seed 1's too
    twins = len(applied(runs / "runs" / "seed-1.db")) + len(applied(runs / "runs" / "seed-2.db")) - len(kept)
    assert twins >= len(applied(twin))
    assert f"to {train} (left out: {twins} examples the same as a held-out one) and {len(held)} held-out" in r.stdout
    before = train.read_bytes()  # with only seed 1 to train on, every example is a held-out one's twin
    r = wood("export", str(runs / "runs" / "seed-1.db"), str(twin), "--sft", str(train), "--holdout-seeds", "3")
    assert r.returncode == 2 and "every example for the fine-tuning set" in r.stderr and "is the same as a held-out " \
        "one: nothing written" in r.stderr, r.stderr
    assert train.read_bytes() == before


def test_a_set_from_a_run_still_being_played_says_which_rounds_it_read(runs, tmp_path):
    """A save another wood process is saving to (here: resumed to play on
    to round 200, held open to write) was read as of a finished run, each
    pass over its calls at its own moment: the set is of the rounds committed
    when the export began, and a line says so in `wood report`'s words."""
    import shutil

    live = tmp_path / "live.db"
    shutil.copy(runs / "runs" / "seed-1.db", live)
    want = len(applied(live))
    ledger = Ledger.open(live, readonly=False)  # the writer's lock, as a run resumed from it holds it
    try:
        ledger.set_end(ROUNDS + 1, 200)
        r = wood("export", str(live), "--sft", str(tmp_path / "live.jsonl"))
    finally:
        ledger.close()
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"read {live} to round {ROUNDS} of the 200 the run is set to play (still being played: another wood process "
        "is saving to it)", f"wrote {want} examples from 1 run to {tmp_path / 'live.jsonl'}"], r.stdout
    done = wood("export", str(live), "--sft", str(tmp_path / "done.jsonl"))
    assert done.returncode == 0 and "still being played" not in done.stdout, done.stdout


def test_the_summary_says_how_many_runs_read_gave_no_example(runs, tmp_path):
    scripted = tmp_path / "scripted.db"
    assert wood("sim", "--rounds", "3", "--save", str(scripted), "--quiet").returncode == 0
    out = tmp_path / "x.jsonl"
    r = wood("export", str(runs / "runs"), str(scripted), "--sft", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(f"to {out}; 1 run of the 3 read gave no example"), r.stdout


def test_the_summary_names_the_seeds_of_the_held_out_runs_read_not_every_seed_asked_for(runs, tmp_path):
    """--holdout-seeds 2-5 over runs of seeds 1 and 2: the held-out examples
    came from seed 2's run alone, and the summary says so ("seeds 2, 3, 4, 5"
    had named seeds no run read has, and "seeds 2" one seed as many)."""
    out = tmp_path / "x.jsonl"
    r = wood("export", str(runs / "runs"), "--sft", str(out), "--holdout-seeds", "2-5")
    assert r.returncode == 0, r.stderr
    assert " held-out examples from 1 run (seed 2) to " in r.stdout, r.stdout


def test_filters_by_model_outcome_and_rounds(runs, tmp_path):
    one = runs / "runs" / "seed-1.db"
    out = tmp_path / "x.jsonl"

    def export(*argv) -> list[dict]:
        r = wood("export", str(one), "--sft", str(out), *argv)
        assert r.returncode == 0, r.stderr
        return [json.loads(x) for x in out.read_text().splitlines()]

    clean = export()  # the default: clean only
    assert len(clean) == len(applied(one)) and len(clean) < len(applied(one, ("clean", "repaired")))
    assert len(export("--outcome", "repaired")) == len(applied(one, ("repaired",)))
    assert len(export("--rounds", "3-5")) == len(applied(one, rounds=(3, 5)))
    assert len(export("--rounds", "4-")) == len(applied(one, rounds=(4, ROUNDS)))
    assert len(export("--model", "flaky")) == len(clean)
    typo = wood("export", str(one), "--sft", str(tmp_path / "typo.jsonl"), "--model", "gpt9")
    assert typo.returncode == 2 and "--model gpt9: no creature" in typo.stderr and "flaky" in typo.stderr


@pytest.mark.parametrize("argv,words", [
    (["--sft", "{d}/missing/x.jsonl"], "directory {d}/missing does not exist"),
    (["--sft", "{d}"], "is a directory, not a file"),
    (["--sft", ""], "--sft: expected a file path"),
    (["--model", "flaky"], "--model filters the fine-tuning set: it goes with --sft"),
    (["--sft", "{d}/a.jsonl", "--holdout", "{d}/b.jsonl"], "--holdout names the held-out file"),
    (["--sft", "{d}/a.jsonl", "--holdout-seeds", "1", "--holdout", "{d}/a.jsonl"], "name the same file"),
    (["--sft", "{d}/a.jsonl", "--outcome", "rejected"], "expected clean or repaired"),
    (["--sft", "{d}/a.jsonl", "--rounds", "5-2"], "expected rounds like"),
    # past any run's length: round 2000000000 alone had been said as "rounds 2000000000-" (from it on)
    (["--sft", "{d}/a.jsonl", "--rounds", "2000000000"], "expected rounds from 1 to 1,000,000 (a run's longest), "
                                                         "got 2000000000"),
    (["--sft", "{d}/a.jsonl", "--rounds", "1-1000001"], "expected rounds from 1 to 1,000,000"),
    ([], "say what to write"),
    (["--out", "{d}/audit", "--sft", "{d}/missing/x.jsonl"], "directory {d}/missing does not exist"),  # before --out
    (["--sft", "{d}/a.jsonl", "--holdout-seeds", "9"], "no run read has any of those seeds (the runs' seeds: 1)"),
    (["--sft", "/dev/stdout"], "name a file, not a stream"),
    (["--sft", "/dev/fd/1"], "name a file, not a stream"),
    (["--sft", "/proc/self/fd/1"], "name a file, not a stream"),  # renamed into place, it would replace what >> appends to
    (["--sft", "{d}/a.jsonl", "--holdout-seeds", "1"], "holds out every run read: the fine-tuning set would be empty"),
    # rounds the runs never reached: an empty set had been written (over the last one), exit 0
    (["--sft", "{d}/a.jsonl", "--rounds", "100-"], "no model decision in the runs read fits the fine-tuning set "
                                                   "(rounds 100-; outcome clean): nothing written"),
    # with --out too: the set is refused before the audit trail is written (it had been written, then exit 2)
    (["--out", "{d}/audit", "--sft", "{d}/a.jsonl", "--model", "gpt9"], "--model gpt9: no creature"),
    (["--out", "{d}/audit", "--sft", "{d}/a.jsonl", "--holdout-seeds", "1"], "holds out every run read"),
    (["--out", "{d}/audit", "--sft", "{d}/a.jsonl", "--rounds", "100-"], "no model decision in the runs read fits "
                                                                         "the fine-tuning set"),
])
def test_bad_sft_input_is_one_line_and_writes_nothing(runs, tmp_path, argv, words):
    r = wood("export", str(runs / "runs" / "seed-1.db"), *[a.format(d=tmp_path) for a in argv])
    assert r.returncode == 2 and words.format(d=tmp_path) in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == []


def test_a_fine_tuning_set_writes_through_a_link_and_never_over_a_pipe_or_device(runs, tmp_path):
    """The set is written beside its name and renamed into place: a link's
    file gets it (the link stays a link); a pipe or a device (`/dev/null`,
    which root could otherwise replace with a file) is refused untouched."""
    save = str(runs / "runs" / "seed-1.db")
    pipe = tmp_path / "pipe.jsonl"
    os.mkfifo(pipe)
    r = wood("export", save, "--sft", str(pipe))
    assert r.returncode == 2 and "is a named pipe (FIFO), not a plain file" in r.stderr and stat.S_ISFIFO(pipe.lstat().st_mode)
    r = wood("export", save, "--sft", "/dev/null")
    assert r.returncode == 2 and "is a character device, not a plain file" in r.stderr and stat.S_ISCHR(os.lstat("/dev/null").st_mode)
    (tmp_path / "real.jsonl").write_text("old\n")
    (tmp_path / "link.jsonl").symlink_to("real.jsonl")
    r = wood("export", save, "--sft", str(tmp_path / "link.jsonl"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "link.jsonl").is_symlink() and (tmp_path / "real.jsonl").read_text().startswith('{"messages"')


def test_the_fine_tuning_set_never_lands_on_an_audit_file_and_a_save_named_twice_counts_once(runs, tmp_path):
    save = runs / "runs" / "seed-1.db"
    audit = tmp_path / "audit"
    audit.mkdir()
    r = wood("export", str(save), "--out", str(audit), "--sft", str(audit / "calls.jsonl"))
    assert r.returncode == 2 and "is one of the audit files --out writes" in r.stderr and list(audit.iterdir()) == []
    both = wood("export", str(runs / "runs"), "--sft", str(tmp_path / "both.jsonl"))
    twice = wood("export", str(save), str(save.parent / ".." / "runs" / save.name), str(runs / "runs"),
                 "--sft", str(tmp_path / "twice.jsonl"))
    assert both.returncode == 0 and twice.returncode == 0, twice.stderr
    assert "from 2 runs" in both.stdout and "from 2 runs" in twice.stdout, twice.stdout
    assert (tmp_path / "twice.jsonl").read_text() == (tmp_path / "both.jsonl").read_text()
    hard = tmp_path / "hard.db"
    os.link(save, hard)  # the same file under a second name
    linked = wood("export", str(save), str(hard), "--sft", str(tmp_path / "linked.jsonl"))
    assert linked.returncode == 0 and "from 1 run" in linked.stdout, linked.stdout + linked.stderr


def test_a_copy_of_a_save_is_the_same_run_exported_once(runs, tmp_path):
    """A save and a copy of it (`shutil.copy`: the same run, under another
    name and inode) had been two runs: every example twice in the set, 'from
    2 runs'. The copy is skipped with a line naming both; the set is the
    save's alone, and held out with its seed, it is one held-out run."""
    import shutil

    one = runs / "runs" / "seed-1.db"
    copy = tmp_path / "copy.db"
    shutil.copy(one, copy)
    alone, both = tmp_path / "alone.jsonl", tmp_path / "both.jsonl"
    assert wood("export", str(one), "--sft", str(alone)).returncode == 0
    r = wood("export", str(one), str(copy), "--sft", str(both))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"skipped {copy}: the same run as {one}", r.stdout
    assert f"from 1 run to {both}" in r.stdout and "gave no example" not in r.stdout, r.stdout
    assert both.read_bytes() == alone.read_bytes() and len(alone.read_text().splitlines()) == len(applied(one))

    held = tmp_path / "held.jsonl"  # seed 1 held out: its save and its copy are one held-out run, seed 2 trains
    r = wood("export", str(runs / "runs"), str(copy), "--sft", str(tmp_path / "train.jsonl"), "--holdout-seeds", "1",
             "--holdout", str(held))
    assert r.returncode == 0, r.stderr
    assert f"skipped {copy}: the same run as {one}" in r.stdout, r.stdout
    assert f"{len(applied(one))} held-out examples from 1 run (seed 1) to {held}" in r.stdout, r.stdout
    assert held.read_bytes() == alone.read_bytes()
    train = [json.loads(x) for x in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert train and not any(x in map(json.loads, held.read_text().splitlines()) for x in train)


def test_a_copy_played_on_is_read_whole_and_the_save_it_was_copied_from_skipped(tmp_path):
    """A save of 4 rounds copied, and the copy played on to 6 (`wood sim
    --resume`): the two are one run, the original its first 4 rounds. The
    copy is read whole, the original skipped. A second copy played on apart
    (its replies other from round 5 on) is read from the round it parts on."""
    import shutil

    with FaultServer() as srv:
        (tmp_path / "roster.toml").write_text(flaky_roster(srv))
        first, later, apart = tmp_path / "first.db", tmp_path / "later.db", tmp_path / "apart.db"
        r = wood("sim", "--roster", str(tmp_path / "roster.toml"), "--rounds", "4", "--seed", "7", "--save", str(first),
                 "--quiet")
        assert r.returncode == 0, r.stderr
        shutil.copy(first, later)
        shutil.copy(first, apart)
        assert wood("sim", "--resume", str(later), "--rounds", "6", "--quiet").returncode == 0
        srv.play("garbage", "garbage")  # the other copy's round 5 goes otherwise: it parts from `later` there
        assert wood("sim", "--resume", str(apart), "--rounds", "6", "--quiet").returncode == 0
    out = tmp_path / "sft.jsonl"
    r = wood("export", str(first), str(later), "--sft", str(out))
    assert r.returncode == 0, r.stderr
    assert f"skipped {first}: the same run as {later}" in r.stdout, r.stdout
    assert len(out.read_text().splitlines()) == len(applied(later, rounds=(1, 6))) and "from 1 run" in r.stdout

    r = wood("export", str(first), str(later), str(apart), "--sft", str(out))
    assert r.returncode == 0, r.stderr
    assert f"skipped {first}: the same run as {later}" in r.stdout, r.stdout
    assert f"read {apart} from round 5 on: its rounds 1 to 4 are the same run as {later}'s" in r.stdout, r.stdout
    want = len(applied(later, rounds=(1, 6))) + len(applied(apart, rounds=(5, 6)))
    assert len(out.read_text().splitlines()) == want and "from 2 runs" in r.stdout, r.stdout
