"""`wood serve --roster FILE`: start the model servers a roster needs and keep
them up until Ctrl-C. Its vLLM servers start one after another (each once the
previous answers /health), then an embedded SmolLM2 server for each model with
`embedded = true`, as a game starts them (models whose base_url names one port
share the server started there). `--dry-run` prints the command lines instead and writes
nothing; what is only decided at start shows as PORT or MODEL, with a note."""
from __future__ import annotations

import argparse

from wood_tui.options import dir_text, file_text, no_folder_at, not_a_directory, path_text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--roster", required=True, metavar="FILE", type=file_text,
                   help="roster whose models to serve, e.g. serve/rosters/vllm.toml")
    p.add_argument("--dry-run", action="store_true", help="print the command lines and exit, writing nothing")
    p.add_argument("--log-dir", metavar="DIR", type=dir_text,
                   help="write each server's log here (default: a new temporary folder)")
    p.add_argument("--vllm-bin", default="vllm", metavar="PATH", type=_executable_text,
                   help="the vllm executable (default: vllm on PATH)")


def _executable_text(v: str) -> str:
    """--vllm-bin's text: a name or a path, refused if empty or blank (or with a NUL byte)."""
    if not v.strip():
        raise argparse.ArgumentTypeError("expected the vllm executable (a name on PATH, or a path), got an empty string")
    return path_text(v)


def run(args: argparse.Namespace) -> int:
    import contextlib
    import shutil
    import signal
    import tempfile
    import threading
    from contextlib import ExitStack
    from pathlib import Path

    from engine.errors import WoodError
    from engine.sanitise import clean_text, shell_line, shown_path
    from engine.stops import Stopped
    from serve.embedded import (MODEL_ALIAS, drop_orphaned_logs, other_servers, serve_log_folder, served_port,
                                server_for, shared_cpu_note)
    from serve.roster import load_roster
    from serve.vllm import VLLMFleet, VLLMServer, check_vllm_path, find_vllm, resolve_config, roster_configs

    roster = load_roster(args.roster)
    if not args.dry_run and roster_configs(roster):  # before a folder is made (a dry run's lines may be for elsewhere)
        find_vllm(args.vllm_bin)
    elif roster_configs(roster):  # ... but not a folder, or a file that cannot run, here
        check_vllm_path(args.vllm_bin)
    if not args.dry_run:  # the folders a game or a `wood serve` killed outright left, once a day old
        drop_orphaned_logs()
    if args.log_dir is not None:
        log_dir = Path(args.log_dir)
        if no_folder_at(log_dir):
            raise WoodError(f"--log-dir {not_a_directory(log_dir)}")
        if not args.dry_run:
            try:
                log_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise WoodError(f"--log-dir {shown_path(log_dir)}: cannot make it ({e.strerror or e})") from None
    elif args.dry_run:  # nothing starts, so nothing is logged: no folder is made
        log_dir = Path(tempfile.gettempdir()) / "wood-serve-logs"
    else:
        log_dir = serve_log_folder()  # named for this pid: left by a kill -9, it goes a day on
    line_open = False

    def progress(event: str, server: VLLMServer) -> None:
        nonlocal line_open
        if event == "starting":
            print(f"starting {server.name} on :{server.port} ... ", end="", flush=True)
            line_open = True
        elif event == "healthy":
            print(f"healthy after {server.ready_s:.0f} s", flush=True)
            line_open = False
        elif event == "stopping":
            if line_open:  # a start that failed: its line ends here, the error follows the stops
                print(flush=True)
            print(f"stopping {server.name} ... ", end="", flush=True)
            line_open = True
        else:
            print("stopped", flush=True)
            line_open = False

    fleet = VLLMFleet(roster, vllm_bin=args.vllm_bin, log_dir=log_dir, on_event=progress)
    # one server per embedded model, as a game starts them; models whose base_url names one port share the
    # server started there (a game finds the first one's answering there, and uses it)
    smols = []  # (the embedded models it serves, its server)
    by_port: dict[int, list] = {}
    embedded = sorted((m for m in roster.models.values() if m.embedded), key=lambda m: m.name)  # a game's order
    for m in embedded:
        if (port := served_port(m)) is not None and port in by_port:
            by_port[port].append(m)
            continue
        smols.append(([m], server_for(m, log_dir=log_dir)))
        if port is not None:
            by_port[port] = smols[-1][0]
    several = len(embedded) > 1

    def named(models: list) -> str:  # which model a server is, where the roster has more than one embedded
        return f"{MODEL_ALIAS} (embedded" + (f", for {', '.join(m.name for m in models)})" if several else ")")

    if not fleet.servers and not smols:
        if args.log_dir is None and not args.dry_run:  # the folder made for its logs: nothing will be logged
            log_dir.rmdir()
        raise WoodError(f"roster {shown_path(args.roster)} has nothing to serve: no model has vllm_config or "
                        "embedded = true")
    for m in roster.models.values():
        if not m.vllm_config and not m.embedded:
            print(f"# not started here: {m.name} ({m.base_url or 'no base_url'})")

    if args.dry_run:
        for i, (server, cmd) in enumerate(zip(fleet.servers, fleet.commands())):
            replicas = [u for m in roster.models.values() if m.vllm_config and len(m.urls) > 1
                        and resolve_config(m.vllm_config).resolve() == server.config_path.resolve() for u in m.urls]
            print(f"# {server.name} -> {server.base_url}"
                  + (" (start when the previous /health answers 200)" if i else " (first)")
                  + (f"; on each node: the roster's replicas are {', '.join(replicas)}" if replicas else ""))
            print(shell_line(cmd))  # an escape sequence in a path written as printf octal escapes, read back as it was
        for models, smol in smols:
            plan = smol.plan()  # nothing made: a port or model file decided at start shows as a placeholder
            print(f"# {named(models)} -> {plan.base_url}")
            for note in plan.notes:
                print(f"# {note if note.isprintable() else clean_text(note)}")  # its paths already shown (shown_path)
            print(shell_line(plan.command))
        return 0

    def interrupt(signum: int, frame: object) -> None:  # stop the servers on SIGTERM/SIGHUP, as on Ctrl-C
        raise Stopped(signum)  # `wood: interrupted (SIGTERM)`, exit 128 + the signal, as every command says it

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    print(f"logs in {shown_path(log_dir)}"
          + (" (removed on a clean stop; --log-dir DIR keeps them)" if args.log_dir is None else ""))
    with ExitStack() as stack:
        try:
            for _, smol in smols:  # a port named and taken (another `wood serve`'s): said alone, before any start
                smol.check_port()
            if fleet.servers:
                stack.enter_context(fleet)
            for i, (models, smol) in enumerate(smols):
                if others := other_servers(ours=[started for _, started in smols[:i]]):
                    print(shared_cpu_note(others), flush=True)
                print(f"starting {named(models)} on :{smol.port} ... ", end="", flush=True)
                line_open = True
                stack.enter_context(smol)
                moved = f", on :{smol.port} instead (another program took the first)" if smol.port_note else ""
                print(f"ready after {smol.startup_s:.0f} s{moved}", flush=True)  # the line began with the port picked
                line_open = False
        except BaseException as e:
            if line_open:
                print(flush=True)
            if args.log_dir is None and isinstance(e, KeyboardInterrupt):  # a stop, not a failure: nothing
                stack.close()  # names the logs, so the temporary folder goes (once its servers are stopped)
                shutil.rmtree(log_dir, ignore_errors=True)
            elif args.log_dir is None:  # a start that failed before any server wrote a log (a port taken): it goes
                with contextlib.suppress(OSError):
                    log_dir.rmdir()
            raise
        urls = [s.base_url for s in fleet.servers] + [smol.base_url for _, smol in smols]
        # from here a signal only asks the loop to stop: an exception raised wherever the signal lands
        # (inside Popen.poll, holding its lock) could leave the servers' stop waiting forever
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda signum, frame: stop.set())
        print(f"serving {', '.join(urls)}; Ctrl-C stops them", flush=True)
        for models, smol in smols:
            if not models[0].base_url:  # a game would start its own on another port
                print(f"# a game with this roster uses it once [models.{models[0].name}] has base_url = "
                      f"\"{smol.base_url}\"", flush=True)
        while not stop.wait(1):
            fleet.check()
            for _, smol in smols:
                smol.check()
        print()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C cuts the stop short, as before
    if args.log_dir is None:  # stopped cleanly: the temporary folder goes (after a failure it stays, for its logs)
        shutil.rmtree(log_dir, ignore_errors=True)
    return 0
