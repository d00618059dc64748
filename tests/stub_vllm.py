"""A stand-in for `vllm serve --config FILE` in tests: a real process that
behaves like vLLM at startup. It reads the flat YAML, refuses connections for
`stub-delay` seconds (as vLLM does while loading), spawns a child (as vLLM
spawns its engine process), then answers GET /health with 200. With
`stub-exit: N` it prints a failure and exits with N instead. Each step is
appended as a JSON line to the `stub-record` file."""
import http.server
import json
import os
import subprocess
import sys
import time


def main() -> int:
    assert sys.argv[1:3] == ["serve", "--config"], sys.argv
    cfg = {}
    for line in open(sys.argv[3], encoding="utf-8"):
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            cfg[key.strip()] = value.strip().strip("'\"")
    name = cfg["served-model-name"]

    def note(event: str, **extra) -> None:
        with open(cfg["stub-record"], "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"event": event, "name": name, "t": time.time(), "pid": os.getpid(), **extra}) + "\n")

    note("start")
    print(f"stub vllm: loading {cfg['model']}", flush=True)
    if "stub-exit" in cfg:
        print("stub vllm: torch.OutOfMemoryError: CUDA out of memory (on purpose)", flush=True)
        return int(cfg["stub-exit"])
    engine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    note("engine", engine_pid=engine.pid)
    time.sleep(float(cfg.get("stub-delay", "0.5")))

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", int(cfg["port"])), Health)
    note("ready")
    print("stub vllm: Application startup complete.", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
