"""The `wood` command and the Textual app (watch, play, replay in the app)."""
