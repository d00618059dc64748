"""The ledger: an append-only SQLite file (WAL) that a run survives in.

Each round is one transaction: the tips issued (with their truth — the
ledger is the one place it is written down), every creature's proposal as
decided (action, outcome, reason, raw text), every model call, every event,
the state hash, and a snapshot of the latest state (a cache for resume,
checked against the hash). Killed at any point, a run resumes from its last
committed round; `replay` rebuilds the state from the recorded actions.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict
from pathlib import Path

from .actions import Action
from .brains import Decision
from .errors import WoodError
from .events import Event
from .state import State, state_hash
from .world import RosterEntry

FORMAT = "thousand-token-wood-ledger"
VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (round INTEGER PRIMARY KEY, state_hash TEXT NOT NULL,
    wall_s REAL, committed_at REAL);
CREATE TABLE IF NOT EXISTS actions (round INTEGER, creature TEXT, action TEXT NOT NULL, outcome TEXT,
    reason TEXT, raw TEXT, PRIMARY KEY (round, creature));
CREATE TABLE IF NOT EXISTS events (round INTEGER, seq INTEGER, kind TEXT, public INTEGER, who TEXT,
    data TEXT, PRIMARY KEY (round, seq));
CREATE TABLE IF NOT EXISTS calls (round INTEGER, creature TEXT, model TEXT, messages TEXT, raw TEXT,
    action TEXT, outcome TEXT, reason TEXT, repairs TEXT, latency_ms REAL, prompt_tokens INTEGER,
    completion_tokens INTEGER, finish_reason TEXT, PRIMARY KEY (round, creature));
CREATE TABLE IF NOT EXISTS tips (id INTEGER PRIMARY KEY, shock TEXT, good TEXT, text TEXT,
    recipients TEXT, truth INTEGER, issued INTEGER, resolves INTEGER);
CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), round INTEGER, state TEXT);
"""


class LedgerError(WoodError):
    pass


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}?mode=rwc"
    con = sqlite3.connect(uri, uri=True, isolation_level=None)
    return con


class Ledger:
    """One run's ledger. `Ledger.create` for a new run, `Ledger.open` for an existing one."""

    def __init__(self, path: Path, con: sqlite3.Connection):
        self.path = path
        self.con = con
        self._tips: list[tuple] = []

    # ---- opening ------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, seed: int, roster: list[RosterEntry], brains: str,
               extra: dict | None = None) -> "Ledger":
        p = Path(path)
        if p.exists():
            raise LedgerError(f"{p} already exists; resume it with --resume, or choose another --save path")
        if not p.parent.exists():
            raise LedgerError(f"directory {p.parent} does not exist")
        con = _connect(p, readonly=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.executescript(SCHEMA)
        meta = {"format": FORMAT, "version": str(VERSION), "seed": str(seed), "brains": brains,
                "roster": json.dumps([asdict(r) for r in roster]), "created": str(time.time()),
                "extra": json.dumps(extra or {})}
        with con:
            con.execute("BEGIN")
            con.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        return cls(p, con)

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = True) -> "Ledger":
        """Open and validate an existing save; a missing, corrupt or foreign file
        gives a one-line LedgerError and is left untouched."""
        p = Path(path)
        if not p.is_file():
            raise LedgerError(f"no save file at {p}")
        with p.open("rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                raise LedgerError(f"{p} is not a Thousand Token Wood save (not an SQLite file)")
        try:
            con = _connect(p, readonly=True)
            rows = dict(con.execute("SELECT key, value FROM meta").fetchall())
            con.execute("SELECT count(*) FROM rounds").fetchone()
            ok = con.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise LedgerError(f"{p} is not a readable Thousand Token Wood save ({e})") from None
        if rows.get("format") != FORMAT:
            con.close()
            raise LedgerError(f"{p} is not a Thousand Token Wood save")
        if rows.get("version") != str(VERSION):
            con.close()
            raise LedgerError(f"{p} was written by ledger version {rows.get('version')}; this build reads {VERSION}")
        if ok != "ok":
            con.close()
            raise LedgerError(f"{p} is corrupt ({ok})")
        if not readonly:
            con.close()
            con = _connect(p, readonly=False)
            con.execute("PRAGMA synchronous=NORMAL")
        return cls(p, con)

    def close(self) -> None:
        self.con.close()

    # ---- what the run is ----------------------------------------------
    def meta(self) -> dict:
        return dict(self.con.execute("SELECT key, value FROM meta").fetchall())

    @property
    def seed(self) -> int:
        return int(self.meta()["seed"])

    def roster(self) -> list[RosterEntry]:
        return [RosterEntry(**r) for r in json.loads(self.meta()["roster"])]

    def last_round(self) -> int:
        return self.con.execute("SELECT coalesce(max(round), 0) FROM rounds").fetchone()[0]

    def round_hash(self, round_no: int) -> str | None:
        row = self.con.execute("SELECT state_hash FROM rounds WHERE round = ?", (round_no,)).fetchone()
        return row[0] if row else None

    # ---- writing, once per round --------------------------------------
    def record_tips(self, state: State, opening: list[Event]) -> None:
        """Hold this round's new tips (with truth) until the round commits."""
        for e in opening:
            if e.kind == "tip_issued":
                t = state.tips[e.data["tip"]]
                self._tips.append((t.id, t.shock, t.good, t.text, json.dumps(t.recipients), int(t.truth),
                                   t.issued, t.resolves))

    def commit_round(self, result, snapshot: str) -> None:
        """Write one round in one transaction; `snapshot` is the state's canonical JSON."""
        r = result.round
        with self.con:
            self.con.execute("BEGIN")
            self.con.executemany("INSERT INTO tips VALUES (?,?,?,?,?,?,?,?)", self._tips)
            self.con.executemany(
                "INSERT INTO actions VALUES (?,?,?,?,?,?)",
                [(r, n, json.dumps(d.action.compact()), d.outcome, d.reason, d.raw) for n, d in result.decisions.items()])
            self.con.executemany(
                "INSERT INTO calls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(r, n, c.get("model"), json.dumps(c.get("messages")), c.get("raw"), json.dumps(c.get("action")),
                  d.outcome, d.reason, json.dumps(c.get("repairs", [])),
                  c.get("latency_ms"), c.get("prompt_tokens"), c.get("completion_tokens"), c.get("finish_reason"))
                 for n, d in result.decisions.items() if (c := d.call)])
            self.con.executemany(
                "INSERT INTO events VALUES (?,?,?,?,?,?)",
                [(r, i, e.kind, int(e.public), json.dumps(list(e.who)), json.dumps(e.data))
                 for i, e in enumerate(result.events)])
            self.con.execute("INSERT INTO rounds VALUES (?,?,?,?)", (r, result.state_hash, result.wall_s, time.time()))
            self.con.execute("INSERT OR REPLACE INTO snapshot VALUES (1, ?, ?)", (r, snapshot))
        self._tips.clear()

    # ---- reading ------------------------------------------------------
    def actions(self, round_no: int) -> dict[str, Action]:
        rows = self.con.execute("SELECT creature, action FROM actions WHERE round = ?", (round_no,)).fetchall()
        return {n: Action.model_validate(json.loads(a)) for n, a in rows}

    def decisions(self, round_no: int) -> dict[str, Decision]:
        """Each creature's recorded decision (action, outcome, reason, raw) in `round_no`."""
        rows = self.con.execute("SELECT creature, action, outcome, reason, raw FROM actions WHERE round = ?",
                                (round_no,)).fetchall()
        return {n: Decision(Action.model_validate(json.loads(a)), o or "", r or "", raw) for n, a, o, r, raw in rows}

    def events(self, round_no: int) -> list[Event]:
        rows = self.con.execute("SELECT kind, public, who, data FROM events WHERE round = ? ORDER BY seq",
                                (round_no,)).fetchall()
        return [Event(k, round_no, json.loads(d), bool(p), tuple(json.loads(w))) for k, p, w, d in rows]

    def snapshot(self) -> State | None:
        """The latest committed state, if its snapshot matches the recorded hash."""
        row = self.con.execute("SELECT round, state FROM snapshot WHERE id = 1").fetchone()
        if not row:
            return None
        try:
            st = State.from_dict(json.loads(row[1]))
        except (ValueError, KeyError, TypeError):
            return None
        return st if st.round == row[0] and state_hash(st) == self.round_hash(row[0]) else None

    def calls(self):
        cols = ("round", "creature", "model", "messages", "raw", "action", "outcome", "reason", "repairs",
                "latency_ms", "prompt_tokens", "completion_tokens", "finish_reason")
        for row in self.con.execute(f"SELECT {', '.join(cols)} FROM calls ORDER BY round, creature"):
            d = dict(zip(cols, row))
            for k in ("messages", "action", "repairs"):
                d[k] = json.loads(d[k]) if d[k] is not None else None
            yield d

    def tips(self):
        cols = ("id", "shock", "good", "text", "recipients", "truth", "issued", "resolves")
        for row in self.con.execute(f"SELECT {', '.join(cols)} FROM tips ORDER BY id"):
            d = dict(zip(cols, row))
            d["recipients"] = json.loads(d["recipients"])
            d["truth"] = bool(d["truth"])
            yield d
