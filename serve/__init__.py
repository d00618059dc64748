"""Model serving: the roster (which creature thinks with which model), the
embedded llama.cpp server (the CPU default), vLLM configs and launchers,
and health checks. Nothing here knows the rules of the game."""
