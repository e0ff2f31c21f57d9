import SmokeHarness

// `make smoke-help`: the flags SMOKE_ARGS (and `make smoke-cpu ARGS="…"`) accept.
print("""
    The Smoke suite: the whole worker against a mini-prod and a simulated PeerTube federation on 127.0.0.1.

      make smoke-cpu [ARGS="…"]          CPU mode
      make smoke-gpu [ARGS="…"]          GPU mode (fails fast without a usable CUDA device)
      SMOKE_ARGS="…" swift test --filter Smoke

    Report: tmp/orchestrator-smoke/last-report.json (and <run-id>/report.json with --keep-workdir).

    """)
print(SmokeOptions.helpMessage(columns: 100))
