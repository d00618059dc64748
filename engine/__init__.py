"""Thousand Token Wood's simulation engine.

Pure rules over plain state (`state`, `rules`, `market`, `tips`, `memory`),
what a trader may see (`views`), the actions it may take (`actions`), the
async round loop (`runner`) and the SQLite ledger (`ledger`). No module here
imports Textual; I/O lives only in `ledger`, `runner` and `brains/`.
"""
