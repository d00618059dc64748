"""Widgets: they draw what the screens hand them and never touch the engine's state."""
