"""Screens: spectator (watch, replay), market (play), the hot-seat curtain, modals."""
