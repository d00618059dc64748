"""A seeded random key-and-mouse fuzzer for the app (`wood play`, one seat or
hot-seat with two humans; `wood watch`), driven with Textual's Pilot against
scripted brains on a small roster, at several terminal sizes with resizes
mid-game. After every step it checks what must always hold:

- no traceback: no error screen, the app has not died (`app._exception`,
  a return code other than 0), the game has not stopped on an error;
- no hang: every step finishes within `STEP_S` seconds;
- hot-seat privacy: while no seat's turn is live (a curtain up, between
  turns), nothing of a seat's own is on screen (its panel concealed, the
  form shut and blank), and no seat's private words (its tips, the whispers
  sent to it) are in the app's text, nor in the other seat's live turn;
- every move the screen answered for a seat is the move the engine
  recorded for it that round (`RoundClosed.decisions`).

`fuzz(seed, mode, ...)` runs one sequence and returns what it saw; a broken
property raises `FuzzFailure` with the seed and the keys so far (each step
is one entry, so a failing run can be replayed and cut down)."""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from textual.pilot import OutOfBounds
from textual.widgets import Input

from tests.tui_harness import all_text, args
from wood_tui.app import WoodApp
from wood_tui.bridge import LiveGame, Pacer, Seat
from wood_tui.messages import RoundClosed
from wood_tui.screens.curtain import CurtainScreen
from wood_tui.screens.market import MarketScreen, help_paragraphs
from wood_tui.screens.modals import ErrorScreen
from wood_tui.widgets.action_form import ActionForm, KeySelect
from wood_tui.widgets.seat_panel import SeatPanel

STEP_S = 15.0  # a step (a key, a click, a resize, and the app settling) taking longer is a hang
SIZES = ((40, 12), (60, 20), (80, 24), (100, 32), (140, 40))
COMMON = ["tab", "shift+tab", "enter", "escape", "up", "down", "left", "right", "pageup", "pagedown",
          "home", "end", "backspace", "space", "delete", "ctrl+p", "ctrl+c", "ctrl+x", "ctrl+v", "ctrl+a"]
ONWARD = ["enter", "f2"]  # the keys that move a game on (lift a curtain, pass): drawn more often
LETTERS = list("abcdefghijklmnoprstuvwxyz")  # q (quit on the spectator's screen) is drawn apart, rarely
DIGITS = list("0123456789")
QUIT = ("ctrl+q", "q")  # ends the run: left out unless asked for


class FuzzFailure(AssertionError):
    pass


@dataclass
class Seen:
    steps: list = field(default_factory=list)    # what was done, one entry a step
    answered: dict = field(default_factory=dict)  # (round, seat) -> action the screen answered
    checked: int = 0                              # answered moves checked against the engine's record
    refused: list = field(default_factory=list)   # (round, seat, reason) the engine refused after the form
    rounds: int = 0
    closed: int = 0                               # the last round on screen at the end
    curtains: int = 0                             # steps taken with a curtain up
    secrets: dict = field(default_factory=dict)   # seat -> {private words seen on its turns: private until}


def play_game(seats: tuple[str, ...], seed: int, rounds: int, creatures: int) -> LiveGame:
    return LiveGame(args("play", "--brains", "scripted", "--seed", str(seed), "--rounds", str(rounds),
                         "--creatures", str(creatures)), tuple(Seat(s) for s in seats))


def watch_game(seed: int, rounds: int, creatures: int) -> LiveGame:
    return LiveGame(args("watch", "--brains", "scripted", "--seed", str(seed), "--rounds", str(rounds),
                         "--creatures", str(creatures)))


def binding_keys(app) -> list[str]:
    """The keys the screens on the stack declare (less the ones that quit)."""
    out = []
    for screen in {id(s): s for s in (app.screen, app.main) if s is not None}.values():
        for b in screen.BINDINGS:
            for k in b.key.split(","):
                if k.strip() and k.strip() not in QUIT:
                    out.append(k.strip())
    return out


NEVER = 10**9


def private_words(view) -> dict[str, int]:
    """A seat's private words on its turn, each with the round up to which it
    stays private: a tip until it resolves (its headline then tells it to all),
    a whisper for good."""
    return {**{w.text: NEVER for w in view.whispers}, **{t.text: t.resolves for t in view.tips}}


def _fail(seen: Seen, seed: int, what: str) -> None:
    raise FuzzFailure(f"seed {seed}: {what}\nsteps: {seen.steps}")


def check(app: WoodApp, seen: Seen, seed: int, text_check: bool) -> None:
    """What must hold after every step."""
    if app._exception is not None:
        _fail(seen, seed, f"the app raised {app._exception!r}")
    if any(isinstance(s, ErrorScreen) for s in app.screen_stack):
        err = next(s for s in app.screen_stack if isinstance(s, ErrorScreen))
        _fail(seen, seed, f"error screen: {err.title_text}: {err.detail!r}")
    main = app.main
    if main is not None and str(main.note).startswith("stopped"):
        _fail(seen, seed, f"the game stopped: {main.note}")
    if not isinstance(main, MarketScreen) or not main.hot_seat:
        return
    curtain = any(isinstance(s, CurtainScreen) for s in app.screen_stack)
    seen.curtains += curtain
    live = main.live
    if curtain or live is None:
        if live is not None:
            _fail(seen, seed, f"{live.view.name}'s turn is live under a curtain")
        if main.shows_a_seat:
            _fail(seen, seed, "a seat's panel is on screen between turns")
        form = main.query(ActionForm)
        if form and not form.first().disabled:
            _fail(seen, seed, "the form is open between turns")
        for inp in main.query(Input):
            if inp.value:
                _fail(seen, seed, f"the form keeps {inp.id}={inp.value!r} between turns")
        for sel in main.query(KeySelect):
            if sel.id in ("to", "tip") and not sel.is_blank():
                _fail(seen, seed, f"the form keeps {sel.id}={sel.value!r} between turns")
    else:
        panel = main.query_one(SeatPanel)
        title = str(panel.border_title)
        if live.view.name not in title:
            _fail(seen, seed, f"{live.view.name}'s turn shows the panel {title!r}")
        mine = seen.secrets.setdefault(live.view.name, {})
        for w, until in private_words(live.view).items():
            mine[w] = max(until, mine.get(w, 0))
    if text_check:
        others = {n: ws for n, ws in seen.secrets.items() if live is None or n != live.view.name}
        words = {w for ws in others.values() for w, until in ws.items() if main.round <= until}
        # a live seat may hold the same words itself (a tip passed on to it, a shared tip)
        if live is not None:
            words -= set(private_words(live.view))
        words = {w for w in words if w not in " ".join(help_paragraphs(main.world))}  # the rules' own example tip
        if words:
            text = all_text(app)
            for w in words:
                if w and w in text:
                    _fail(seen, seed, f"another seat's private words are in the app's text: {w!r} "
                                      f"(live: {live.view.name if live else None})")


def spy(app: WoodApp, seen: Seen, seed: int) -> None:
    """Record each move the play screen answers, and hold it to the engine's record when the round closes."""
    main = app.main
    if not isinstance(main, MarketScreen):
        return
    answer, closed = main._answer, main.closed_round

    def _answer(turn, action):
        if not turn.answer.done():
            seen.answered[(turn.view.round, turn.view.name)] = action
        return answer(turn, action)

    def closed_round(msg: RoundClosed):
        seen.rounds = max(seen.rounds, msg.round)
        for name in main.seats:
            said = seen.answered.get((msg.round, name))
            d = msg.decisions.get(name)
            if said is None:
                continue
            if d is None:
                _fail(seen, seed, f"round {msg.round}: {name} moved {said} and the engine has no decision")
            if d.action != said:
                _fail(seen, seed, f"round {msg.round}: the screen answered {said} for {name}, the engine "
                                  f"recorded {d.action}")
            seen.checked += 1
        for e in msg.events:  # a seat's move the form let through and the engine refused
            if e.kind == "rejected" and e.data.get("creature") in main.seats:
                seen.refused.append((msg.round, e.data["creature"], e.data.get("reason"),
                                     seen.answered.get((msg.round, e.data["creature"]))))
        return closed(msg)

    main._answer, main.closed_round = _answer, closed_round


def _digits(n: int) -> list[str]:
    return list(str(n))


def move_keys(rng: random.Random, view) -> list[str]:
    """A move typed as a player types it (a letter picks in a list and moves on), from the form's action list."""
    goods = [q.good for q in view.quotes] or ["x"]
    ids = [o.id for o in view.book] + [lo.id for lo in view.loan_offers] + [po.id for po in view.pact_offers]
    kind = rng.choice(["o", "a", "g", "l", "s", "w", "p", "al", "b", *(["a"] * 3 if ids else [])])
    keys = ["escape", *kind]
    if kind == "o":  # offer: side, good, qty, price
        keys += [rng.choice("bs"), rng.choice(goods)[0], *_digits(rng.randint(1, 6)), "tab",
                 *_digits(rng.randint(1, 30))]
    elif kind == "a":
        keys += _digits(rng.choice(ids) if ids and rng.random() < 0.9 else rng.randint(1, 99))
    elif kind == "g":  # gift: good, qty, to
        keys += [rng.choice(goods + ["coins"])[0], *_digits(rng.randint(1, 5)), "tab", rng.choice("abfhos")]
    elif kind == "l":  # lend: to (anyone), amount, rate, rounds
        keys += ["tab", *_digits(rng.randint(1, 20)), "tab", *_digits(rng.randint(0, 20)), "tab",
                 *_digits(rng.randint(1, 6))]
    elif kind == "s":  # short: good, qty, price
        keys += [rng.choice(goods)[0], *_digits(rng.randint(1, 4)), "tab", *_digits(rng.randint(1, 20))]
    elif kind == "w":  # whisper: to, words
        keys += [rng.choice("abfhos"), *"psst", "space", *rng.choices("abcdefghijklmnopqrstuvwxyz", k=6)]
    if rng.random() < 0.3:
        keys += ["tab"] * rng.randint(0, 3) + list("hello")
    keys.append("enter")
    return keys


async def _step(pilot, rng: random.Random, seen: Seen, keys_only: bool, resize: bool) -> None:
    app = pilot.app
    w, h = app.size
    r = rng.random()
    if resize and r < 0.02:
        size = rng.choice(SIZES)
        seen.steps.append(("resize", size))
        await pilot.resize_terminal(*size)
        return
    if not keys_only and r < 0.10:
        x, y = rng.randrange(w), rng.randrange(h)
        seen.steps.append(("click", (x, y)))
        try:
            await pilot.click(offset=(x, y))
        except OutOfBounds:
            pass
        return
    main = app.main
    live = getattr(main, "live", None)
    if live is not None and app.screen is main and rng.random() < 0.08:
        keys = move_keys(rng, live.view)
        seen.steps.append(("keys", tuple(keys)))
        await pilot.press(*keys)
        return
    pool = rng.random()
    if pool < 0.003:
        keys = ["q", "ctrl+q"]
    elif pool < 0.10:
        keys = ONWARD
    elif pool < 0.35:
        keys = binding_keys(app) or COMMON
    elif pool < 0.65:
        keys = COMMON
    elif pool < 0.85:
        keys = LETTERS
    else:
        keys = DIGITS
    key = rng.choice(keys)
    seen.steps.append(key)
    await pilot.press(key)


async def fuzz(seed: int, mode: str, *, steps: int = 200, size: tuple[int, int] | None = None,
               rounds: int = 4, creatures: int | None = None, resize: bool = True, keys_only: bool = False,
               text_every: int = 5, settle: bool = False, script: list | None = None) -> Seen:
    """One run. `mode`: play (one seat, Owl), hot (Owl and Fox at one keyboard), watch.
    `settle`: keep the curtain's and a turn's settle times (else 0, so random keys get past them).
    `script`: steps to replay (as `Seen.steps` records them) instead of random ones."""
    rng = random.Random(seed)
    size = size or rng.choice(SIZES)
    creatures = creatures or rng.choice((2, 3, 5, 12) if mode == "watch" else (2, 3, 5))
    if mode == "watch":
        app = WoodApp(watch_game(seed, rounds, creatures), pacer=Pacer(0.0, paused=rng.random() < 0.5))
    else:
        seats = ("Owl",) if mode == "play" else ("Owl", "Fox")
        app = WoodApp(play_game(seats, seed, rounds, creatures), pacer=Pacer(0.0), intro=rng.random() < 0.3)
    seen = Seen(steps=[("size", size)])
    old_settle = CurtainScreen.SETTLE_S, MarketScreen.SETTLE_S
    if not settle:
        CurtainScreen.SETTLE_S = MarketScreen.SETTLE_S = 0.0
    app.deliver_screenshot = lambda *a, **k: None  # never a file in the user's Downloads
    try:
      try:
        async with app.run_test(size=size, notifications=True) as pilot:
            spy(app, seen, seed)
            plan = iter(script) if script is not None else None
            for i in range(steps if plan is None else len(script)):
                if app._exit_renderables or app.return_code is not None or not app.is_running:
                    break
                try:
                    if plan is not None:
                        s = next(plan)
                        seen.steps.append(s)
                        if isinstance(s, tuple) and s[0] == "resize":
                            await asyncio.wait_for(pilot.resize_terminal(*s[1]), STEP_S)
                        elif isinstance(s, tuple) and s[0] == "click":
                            try:
                                await asyncio.wait_for(pilot.click(offset=s[1]), STEP_S)
                            except OutOfBounds:
                                pass
                        elif isinstance(s, tuple) and s[0] == "keys":
                            await asyncio.wait_for(pilot.press(*s[1]), STEP_S)
                        elif isinstance(s, tuple) and s[0] == "pause":
                            await asyncio.wait_for(pilot.pause(s[1]), STEP_S)
                        else:
                            await asyncio.wait_for(pilot.press(s), STEP_S)
                    else:
                        await asyncio.wait_for(_step(pilot, rng, seen, keys_only, resize), STEP_S)
                except TimeoutError:
                    _fail(seen, seed, f"hang: step {len(seen.steps)} took over {STEP_S} s")
                check(app, seen, seed, text_check=i % text_every == 0)
            check(app, seen, seed, text_check=True)
            seen.closed = getattr(app.main, "closed", 0)
      except FuzzFailure:
        raise
      except Exception as e:  # the app's own exception, re-raised as run_test ends
        _fail(seen, seed, f"the app raised {e!r}")
    finally:
        CurtainScreen.SETTLE_S, MarketScreen.SETTLE_S = old_settle
    if app._exception is not None:
        _fail(seen, seed, f"the app raised {app._exception!r}")
    if app.return_code not in (None, 0):
        _fail(seen, seed, f"the app ended with return code {app.return_code}")
    return seen
