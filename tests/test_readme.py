"""The README has a section per command that matches the program: every flag
`wood CMD --help` lists is in `wood CMD`'s section (or the section it points
to for flags it shares), and every `wood ...` line in a section's examples
is one the parser takes."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from wood_tui.cli import COMMANDS, build_parser
from wood_tui.options import RUN_FLAGS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
# flags a section leaves to another's words: "the run flags are the same for sim, watch and play",
# "the price flags are wood report's"
SHARED = {**{(c, f.name): "sim" for c in ("play", "watch") for f in RUN_FLAGS},
          ("sweep", "--gpu-hour-price"): "report", ("sweep", "--mtok-price"): "report"}


def section(command: str) -> str:
    m = re.search(rf"^### `wood {command}`\n(.*?)(?=^##)", README, re.S | re.M)
    assert m, f"README has no section for wood {command}"
    return m.group(1)


def subparser(command: str):
    [sub] = [a for a in build_parser()._actions if a.dest == "command"]
    return sub.choices[command]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_flag_in_a_commands_help_is_in_its_readme_section(command):
    flags = sorted({o for a in subparser(command)._actions for o in a.option_strings if o.startswith("--")} - {"--help"})
    missing = [f for f in flags
               if not re.search(re.escape(f) + r"(?![\w-])", section(SHARED.get((command, f), command)))]
    assert not missing, f"wood {command} --help has {missing}; its README section does not say them"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_example_in_a_commands_readme_section_parses(command):
    parser = build_parser()
    lines = [shlex.split(line, comments=True) for block in re.findall(r"```bash\n(.*?)```", section(command), re.S)
             for line in block.replace("\\\n", " ").splitlines()]
    examples = [a[1:-1] if a[-1] == "&" else a[1:] for a in lines if a and a[0] == "wood" and "..." not in a]
    assert examples, f"wood {command}'s section has no example"
    for argv in examples:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"README example `wood {shlex.join(argv)}` is refused by the parser")


def test_the_games_numbers_in_the_readme_are_the_worlds():
    """Each number "The game" states is the one the engine plays by (assets/,
    engine.actions): a retuned world with a stale README fails here."""
    from engine.actions import SHORT_ROUNDS_MAX, WHISPER_MAX
    from engine.rules import GRANARY_PAY_PCT
    from engine.score import PRICE_CAP
    from engine.world import load_world

    world = load_world()
    eco, odds = world.economy, world.odds
    m = re.search(r"^## The game\n(.*?)(?=^## )", README, re.S | re.M)
    text = " ".join(m.group(1).split())
    words = {1: "once", 2: "twice", 3: "three"}
    fuel = eco["fuel_by_season"]
    said = [
        f"{fuel['spring']}, {fuel['summer']}, {fuel['autumn']} and {fuel['winter']} timber a round",
        f"stands for {eco['offer_lifetime']} rounds",
        f"{eco['short_collateral_pct']}% of the proceeds is held as collateral",
        f"in {eco['short_rounds']} rounds, or the 1-{SHORT_ROUNDS_MAX} you give; {eco['max_shorts']} open shorts at most",
        f"settled at {words[eco['squeeze_pct'] / 100]} the price (a squeeze)",  # 250% is no word here: a KeyError
        f"{words[eco['max_allies']]} allies at most",
        f"up to {WHISPER_MAX} characters",
        f"the latest {eco['whispers_shown']} of a round",
        f"the profit and {odds['fine_base']} coins more",
        f"once it holds {eco['granary_min']} coins the granary spends up to "
        f"{'half' if eco['granary_spend_pct'] == 50 else str(eco['granary_spend_pct']) + '%'} of it",
        f"at most {GRANARY_PAY_PCT}% of the going price",
        f"pantry of {eco['pantry']}",
        f"collected from {'half' if eco['debt_garnish_pct'] == 50 else str(eco['debt_garnish_pct']) + '% of'} its coins",
        f"below {eco['low_mood']} a creature makes one fewer",
        f"drawn afresh every {eco['grove_rounds']} rounds",
        f"never more than {words[PRICE_CAP]} the usual price",
        f"({eco['pantry']} of each",
        f"a round's mean trade price counts {eco['price_memory_pct']}%",
    ]
    missing = [s for s in said if s not in text]
    assert not missing, f"README's \"The game\" does not say: {missing}"


def test_the_ledger_versions_export_reads_are_the_ledgers():
    """`wood export` reads saves of the earlier ledger versions whose rows read
    alike (engine.ledger.ROWS_ALIKE); its section counts them and names each
    one: a version added there with the README left saying "two" fails here."""
    from engine.ledger import ROWS_ALIKE, VERSION

    text = " ".join(section("export").split())
    count = {1: "the previous ledger version", 2: "the two previous ledger versions",
             3: "the three previous ledger versions", 4: "the four previous ledger versions"}[len(ROWS_ALIKE)]
    assert count in text, f"README's wood export section does not say {count!r}"
    unnamed = [v for v in ROWS_ALIKE if not re.search(rf"[(;] ?{v}: ", text)]
    assert not unnamed, f"README's wood export section does not say what ledger version(s) {unnamed} were"
    assert sorted(ROWS_ALIKE) == list(range(VERSION - len(ROWS_ALIKE), VERSION)), "not the versions just before"


def test_the_request_counts_the_readme_quotes_are_the_lines_wood_sim_prints():
    """The GPU recipe quotes how the model's line and a replica's line count
    requests apart from attempts that could not connect: each quote is what
    that line prints (the model's puts it in the parentheses after its
    decisions, with a semicolon; a replica's after its requests)."""
    from engine.brains.config import ModelConfig
    from engine.brains.llm import ChatClient, ModelStats, replica_lines
    from wood_tui.game import model_lines

    text = " ".join(README.split())
    model = model_lines({"m": ModelStats(calls=40, requests=120, unconnected=3).summary()})[0]
    client = ChatClient(ModelConfig(name="m", model="m", base_urls=["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"]))
    client.replicas[0].calls, client.replicas[0].unconnected = 120, 3
    replica = replica_lines({"m": client})[1]
    for quote, line in (("(120 requests; 3 more attempts could not connect)", model),
                        ("120 requests (3 more attempts could not connect)", replica)):
        assert f"`{quote}`" in text, f"README does not quote {quote!r}"
        assert quote in line, f"wood sim prints {line!r}, not {quote!r}"


def test_the_watch_sections_board_is_the_boards():
    """`wood watch` shows a panel per creature up to PANEL_LIMIT, a table past
    it: the section says where the table begins, and an example's comment
    about a wood of N creatures says what the board then is (its
    `--creatures 200` had said 'the panels scroll')."""
    from wood_tui.widgets.creature_panel import PANEL_LIMIT

    text = section("watch")
    words = {5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}
    assert f"More than {words[PANEL_LIMIT]} creatures: a table" in " ".join(text.split())
    examples = re.findall(r"^wood watch .*?--creatures (\d+)[^#\n]*#([^\n]*)$", text, re.M)
    assert examples, "wood watch's section has no example with --creatures"
    for n, comment in examples:
        if int(n) > PANEL_LIMIT:
            assert "table" in comment and "panels scroll" not in comment, f"--creatures {n}: {comment!r}"
        else:
            assert "table" not in comment, f"--creatures {n}: {comment!r}"


def test_the_signal_a_killed_wood_serves_servers_get_is_the_readmes():
    """`wood serve` killed outright takes its servers with it through
    PR_SET_PDEATHSIG: a vLLM server is sent SIGTERM (`die_with_parent`), the
    embedded model's server SIGKILL (`die_with_parent_now`: stateless, and a
    stopped one takes it too). The section had said every server is sent SIGTERM."""
    import inspect
    import signal

    from serve import embedded, health, vllm

    assert inspect.signature(health.die_with_parent).parameters["sig"].default == signal.SIGTERM
    assert re.search(r"preexec_fn=die_with_parent\b(?!_)", inspect.getsource(vllm))
    assert "preexec_fn=die_with_parent_now" in inspect.getsource(embedded)
    text = " ".join(section("serve").split())
    assert "each vLLM server is sent SIGTERM, the embedded model's server SIGKILL" in text


def test_the_fine_tuning_sets_decisions_are_the_outcomes_it_takes():
    """`--sft` takes the decisions `--outcome` names (clean by default;
    `--outcome repaired` takes the repaired ones alone): the README and the
    flag's help had said 'applied cleanly', whatever --outcome said."""
    sft = next(a for a in subparser("export")._actions if "--sft" in a.option_strings)
    outcome = next(a for a in subparser("export")._actions if "--outcome" in a.option_strings)
    assert outcome.default == ("clean",)
    assert "--outcome" in sft.help and "applied cleanly" not in sft.help
    text = " ".join(section("export").split())
    m = re.search(r"writes a fine-tuning set: one chat example per model decision the engine applied (\([^)]*\))", text)
    assert m and "`--outcome`" in m.group(1), "README's --sft does not say --outcome chooses the decisions"


def test_the_retry_the_readme_describes_is_the_clients():
    """What the chat client sends again, and after what pause, is in the
    README as the client does it (engine.brains.llm.RETRYABLE,
    RETRY_BACKOFF_S), with what it costs: a server that read a dropped
    request may do its work twice, and both requests are counted."""
    from engine.brains.llm import LATE_DROP_SHARE, RETRY_BACKOFF_S, RETRYABLE

    text = " ".join(README.split())
    statuses = sorted(int(f.removeprefix("http_")) for f in RETRYABLE if f.startswith("http_"))
    said = ", ".join(map(str, statuses[:-1])) + f" or {statuses[-1]}"
    assert RETRYABLE - {f"http_{s}" for s in statuses} == {"connect", "dropped"}, "the README names these two alone"
    assert (f"A call that could not connect, was dropped (the connection closed before a whole reply came, or what "
            f"came was no HTTP reply) or was answered {said} is sent once more") in text
    assert f"else to the same server after {RETRY_BACKOFF_S:g} s" in text
    share = {0.5: "half"}.get(LATE_DROP_SHARE, f"{LATE_DROP_SHARE:.0%}")  # a late drop is not sent again
    assert (f"is sent once more (not one dropped {share} its `timeout_s` or more after it was sent: that waited as a "
            "timeout does, and is not sent again)") in text
    assert "may so do its work twice" in text and "the summary counts both requests" in text


def test_the_reply_length_the_readme_gives_is_the_parsers():
    from engine.parsing import MAX_REPLY_CHARS

    assert (f"A reply's text is read as far as {MAX_REPLY_CHARS:,} characters: a move whole within them is played, "
            "else the reply is refused (unparseable) as over that length.") in " ".join(README.split())


def test_the_late_drop_the_readme_describes_is_the_clients():
    """The share of timeout_s after which a dropped call counts toward a
    `silent` server (engine.brains.llm.LATE_DROP_SHARE) is the README's."""
    from engine.brains.llm import LATE_DROP_SHARE

    said = {0.5: "half"}.get(LATE_DROP_SHARE, f"{LATE_DROP_SHARE:.0%}")
    assert (f"a call dropped with no whole reply {said} its `timeout_s` or more after it was sent counts as one "
            "that waited it out") in " ".join(README.split())


def test_the_replays_jump_keys_are_in_its_readme_section_and_its_line_in_wood_help():
    """`wood replay`'s jump keys are said where a user looks for them: its
    README section, and its line in `wood --help`, which had said only
    'rebuild a recorded run' of a command that, without --verify, plays the
    record in the app."""
    from wood_tui.screens.spectator import SpectatorScreen

    keys = [b.key_display for b in SpectatorScreen.BINDINGS if b.action.startswith("jump")]
    assert len(keys) == 4
    for key in keys:
        assert f"`{key}`" in section("replay") and key in COMMANDS["replay"], key
    assert COMMANDS["replay"].startswith("watch a recorded run in the app")


async def test_the_keys_wood_watchs_section_names_are_in_its_help_once_the_season_is_over():
    """Each key the README gives `wood watch` (its "Keys:" line, and the sort
    keys of a large wood's table) is one the screen binds and one its help
    (`?`) lists: the help had left out `F8` (the final standings, once the
    season is over) and `o` (roster order), keys the footer has no room for."""
    from tests.tui_harness import args, until
    from wood_tui.app import WoodApp
    from wood_tui.bridge import LiveGame, Pacer
    from wood_tui.screens.final import FinalScreen
    from wood_tui.screens.modals import KeyList
    from wood_tui.screens.spectator import SpectatorScreen

    text = " ".join(section("watch").split())
    keys_line = re.search(r"Keys: (.*?) Everything a model wrote", text)[1]
    said = {k for tick in re.findall(r"`([^`]+)`", keys_line) if " s" not in tick for k in tick.split("/")}
    said |= set(re.findall(r"`(\w)`", re.search(r"a table that (.*?)\)", text)[1]))
    assert {"space", "n", "+", "-", "g", "t", "?", "q", "F8", "w", "m", "d", "o"} <= said, said
    bound = {k.lower() for b in SpectatorScreen.BINDINGS for k in [b.key_display or "", *b.key.split(",")]}
    assert not {k for k in said if k.lower() not in bound and k != "space"}, bound

    game = LiveGame(args("watch", "--brains", "scripted", "--creatures", "9", "--rounds", "1"))
    app = WoodApp(game, pacer=Pacer(0.0, paused=False))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FinalScreen), what="the final standings")
        await pilot.press("escape", "question_mark")
        await until(pilot, lambda: app.screen.query(KeyList), what="the help")
        listed = {k.lower() for k, _ in app.screen.query_one(KeyList).rows}
    assert not {k for k in said if k.lower() not in listed}, listed


async def test_enter_on_an_offer_in_plays_table_fills_in_what_the_readme_says():
    """Enter on an offer in `wood play`'s offers table fills in an accept of
    as much of it as the seat can take, as its README section now says: it
    had said 'an accept of all of it', which the form never filled in for an
    offer the seat's coins or stores fall short of."""
    from tests.test_tui_app import play_app
    from tests.tui_harness import turn
    from wood_tui.widgets.action_form import ActionForm

    assert ("Enter on a row fills in an accept of as much of it as you can take (what your coins buy of a sale, "
            "what you hold of a wanted good)") in " ".join(section("play").split())
    app = play_app("--seed", "1", "--rounds", "6")
    async with app.run_test(size=(120, 40)) as pilot:
        for r in range(1, 7):
            screen = await turn(pilot, r)
            v = screen.active.view
            short = [o for o in v.book if o.qty and 0 < (v.coins // o.price if o.side == "sell"
                                                          else v.holding(o.good)) < o.qty]
            if short:
                break
            await pilot.pause(0.6)  # past the turn's settling half second
            await pilot.press("f2")
        assert short, "no offer in six rounds that Owl can take only part of"
        o = short[0]
        table = screen.query_one("#book")
        table.focus()
        table.move_cursor(row=table.get_row_index(str(o.id)))
        await pilot.press("enter")
        form = screen.query_one(ActionForm)
        can = v.coins // o.price if o.side == "sell" else v.holding(o.good)
        assert form.action().id == o.id and form.action().qty == can < o.qty


def test_the_exit_the_readme_gives_a_watched_game_whose_server_died_is_the_apps(tmp_path, capsys):
    """A game on screen that stops (its embedded server dead) ends as the
    app ends on any error (wood_tui.cli: `wood: error:`, exit 2); the README
    had said exit 1, as `wood sim`'s, for `wood watch` and `wood play` too."""
    from wood_tui import cli

    text = " ".join(README.split())
    m = re.search(r"A model server the game started \(the embedded one\) that exits mid-run.*?--resume RUN\.db`", text)
    assert m, "README does not say what a game whose model server died does"
    said = m.group(0)
    assert "`wood watch` and `wood play` stop there too" in said and "(`wood: error: ...`, exit 2" in said, said
    # the app's error (`app.fatal`) is raised as a WoodError once it closes (wood_tui.game.run_app): wood's line for one
    assert cli.main(["watch", "--resume", str(tmp_path / "none.db")]) == 2
    assert capsys.readouterr().err.startswith("wood: error: ")
