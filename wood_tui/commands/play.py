"""`wood play`: trade as one creature in the app, against the models (or
scripted traders); `--seats N` for several humans at one terminal, taking
turns behind a privacy curtain."""
from __future__ import annotations

import argparse

from engine.flags import bounded_int
from engine.world import NAME_MAX  # a roster's: any creature of a roster can be played
from wood_tui.options import DEFAULT_BRAINS, RunOptions, add_run_flags

MAX_SEATS = 8  # humans taking turns at one keyboard
SHOWN = 8  # names listed in a message


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_flags(p, default_brains=DEFAULT_BRAINS["play"])
    p.add_argument("--as", dest="seat_names", action="append", metavar="NAME",
                   help=f"play this creature (repeat for hot-seat; default: the first of the roster, or with --resume the "
                   "creatures played in the save); a name is plain "
                   f"text, 1 to {NAME_MAX} characters, no leading or trailing spaces or runs of spaces")
    p.add_argument("--species", metavar="SPECIES",
                   help="join as a new creature of this species (for an --as name not in the wood)")
    p.add_argument("--seats", type=bounded_int(1, MAX_SEATS), metavar="N",
                   help=f"humans at this terminal, 1 to {MAX_SEATS} (default: one per --as); unnamed seats take the roster "
                   "in order")


def run(args) -> int:
    import unicodedata

    from engine.errors import WoodError
    from engine.sanitise import check_plain_name, shown_name, shown_path
    from engine.world import NAMES_ALIKE, build_roster, load_world, name_key, twin_name
    from engine.xdg import NoHome
    from wood_tui.app import WoodApp
    from wood_tui.bridge import LiveGame, Pacer, Seat
    from wood_tui.game import check_before_the_screen, run_app, saved_play
    from wood_tui.screens.intro import config_dir

    options = RunOptions.from_args(args, default_brains=DEFAULT_BRAINS["play"])
    world = load_world()
    names = list(args.seat_names or [])
    saved, played = saved_play(options.resume) if options.resume is not None else ([], [])
    if options.resume is not None and not names:  # the humans who played it sit down again
        names = played[: args.seats]
    for name in names:
        try:
            check_plain_name("--as", name, NAME_MAX)
        except ValueError as e:
            raise WoodError(str(e)) from None
    if (twins := twin_name(names)) is not None:  # `--as Wren --as wren`: one creature to a model
        # ascii, as the roster's and the world's checks: names that print alike (école, e + accent) told apart
        same = "" if twins[0] == twins[1] else f" ({ascii(twins[0])} and {ascii(twins[1])} are one name, {NAMES_ALIKE})"
        raise WoodError(f"each --as names a different creature{same}")
    seats = args.seats or max(1, len(names))
    if seats < len(names):
        raise WoodError(f"--seats {seats} but {len(names)} names given with --as")
    if args.species is not None and options.resume is not None:
        raise WoodError("--species joins a new creature as a game starts; a resumed game keeps its roster")
    if args.species is not None and args.species not in world.species:
        raise WoodError(f"no species {args.species!r}; choose one of {', '.join(world.species)}")
    if options.resume is not None:  # the save's roster: a name not in it is said before the screen takes over
        wood, where = saved, shown_path(options.resume)
    elif options.roster is not None:  # the roster file's creatures, in its order (the first is the default seat)
        from serve.roster import load_roster

        wood = [r.name for r in load_roster(options.roster).entries(world)]
        where = f"roster {shown_path(options.roster)}"
    else:  # the roster a new run without --roster gets
        wood, where = [r.name for r in build_roster(world, options.creatures)], "this wood"
    spare = [n for n in wood if n not in names]
    if seats - len(names) > len(spare):
        raise WoodError("more seats than creatures: name the seats with --as")
    names += spare[: seats - len(names)]
    for n in names:  # `--as owl` (or `Ｏｗｌ`) in a wood with Owl: the same name to a model, so not a new creature
        twin = next((w for w in wood if name_key(w) == name_key(n) and w != n), None)
        if twin is not None:  # where the two print alike, each letter not ASCII escaped, as the roster's and the
            # world's twins are: a save's e + accent had printed as the é typed after --as (`Écureuil` stays so)
            shown = shown_name(twin, NAME_MAX, every=unicodedata.normalize("NFC", twin) == unicodedata.normalize("NFC", n))
            try:  # a name --as refuses (a no-break space in it) had been the advice: `use --as 'Red\xa0Fox'`
                check_plain_name("--as", twin, NAME_MAX)
                advice = f"use --as {shown}"
            except ValueError:
                advice = "it is not a plain name, and no --as can name it"
            raise WoodError(f"--as {n}: {where} has {shown}, and tells names apart {NAMES_ALIKE}: {advice}")
    absent = [n for n in names if n not in wood]
    if absent and options.resume is not None:
        # each quoted with its escapes: a save's names may hold what the terminal would obey, or a comma
        shown = ", ".join(shown_name(w, NAME_MAX) for w in wood[:SHOWN]) + (", ..." if len(wood) > SHOWN else "")
        raise WoodError(f"there is no {absent[0]} in {where} (its creatures: {shown})")
    if absent and args.species is None:
        raise WoodError(f"there is no {absent[0]} in {where}; to join as a new creature add --species "
                        f"({', '.join(world.species)})")
    if args.species is not None and not absent:
        raise WoodError(f"--species joins a new creature named with --as (e.g. --as Robin --species {args.species}); "
                        f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} already in {where}")
    new = set(absent) if args.species and not options.resume else set()
    check_before_the_screen(options, world)
    try:
        remembered = config_dir()
    except NoHome:  # nowhere to remember the introduction (HOME unset, no passwd entry): shown every game
        remembered = None
    app = WoodApp(LiveGame(options, [Seat(n, args.species if n in new else None) for n in names]), pacer=Pacer(0.0),
                  config_dir=remembered, intro=True)
    return run_app(app)
