"""The language-model fixer (tasks/llm_fix.py) under `doit fix=auto`, with real doit runs.

No model can run here: a stand-in HTTP server on 127.0.0.1 speaks Ollama's /api/chat and the
OpenAI-compatible /v1/chat/completions and answers what each test queues (a diff, text),
recording what it was sent. What fedbuild does with the answer is real: `git apply --check`,
the step run again in the scratch copy, the patch kept only when it passes.

The fixers fixture's calc module: `add` subtracts; its test step (no fixers of its own) fails
naming calc.py.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tasks.llm_fix import diff_in, named_files, ollama_host
from tests.conftest import edit_manifest, run_command, run_doit
from tests.tasks.test_fix import LINE, git
from tests.tasks.test_fix import repo as repo  # the fixture, committed to git

GOOD = """Here is the fix:

```diff
diff --git a/calc.py b/calc.py
--- a/calc.py
+++ b/calc.py
@@ -1,2 +1,2 @@
 def add(a, b):
-    return a - b
+    return a + b
```
"""
STILL_FAILS = GOOD.replace("a + b", "a * b")
NOT_APPLYING = GOOD.replace("-    return a - b", "-    return a / b")
GARBAGE = "Change the minus in add to a plus, and it will work."


class StandIn:
    """A stand-in for a model server: answers the queued texts in turn (the last again
    when they run out) and records each request's path, headers and JSON body."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.requests.append({"path": self.path, "body": body,
                                          "auth": self.headers.get("Authorization")})
                text = stand_in.answers.pop(0) if len(stand_in.answers) > 1 \
                    else stand_in.answers[0]
                message = {"role": "assistant", "content": text}
                answer = {"message": message, "done": True} if self.path == "/api/chat" \
                    else {"choices": [{"index": 0, "message": message}]}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    """The stand-in server, answering GOOD until a test queues something else."""
    with StandIn([GOOD]) as server:
        yield server


def configure(repo: Path, **llm: Any) -> None:
    """Name a model in the manifest (federation.fix), and how many attempts."""
    attempts = llm.pop("attempts", 1)
    edit_manifest(repo, lambda data: data["federation"].update(
        fix={"attempts": attempts, "llm": {"model": "stand-in", **llm}}))
    git(repo, "commit", "-qam", "a model")


def fix_auto(repo: Path, stand_in: StandIn) -> str:
    """`doit fix=auto test:calc` with OLLAMA_HOST naming the stand-in: its output."""
    done = run_doit(repo, "fix=auto", "test:calc", env={"OLLAMA_HOST": stand_in.url})
    assert done.returncode != 0, "the step stays failed in the run"
    return done.stdout


def test_a_diff_that_applies_and_passes_is_kept(repo: Path, stand_in: StandIn) -> None:
    configure(repo)
    out = fix_auto(repo, stand_in)
    found = LINE.search(out)
    assert found, out
    assert found["fixer"] == "the model stand-in (ollama)" and found["task"] == "test:calc"
    assert (found["files"], found["added"], found["deleted"]) == ("1", "1", "1")
    [request] = stand_in.requests
    assert request["path"] == "/api/chat" and request["body"]["model"] == "stand-in"
    assert request["body"]["stream"] is False
    asked = request["body"]["messages"][-1]["content"]
    assert "check_calc.py" in asked  # the command
    assert "add(2, 3) is -1, not 5" in asked  # the log's last lines
    assert "--- calc.py ---\ndef add(a, b):\n    return a - b" in asked  # a file it names
    assert git(repo, "status", "--porcelain") == ""  # the working tree is untouched
    git(repo, "apply", found["patch"])
    assert run_doit(repo, "test:calc").returncode == 0


def test_a_diff_that_applies_but_still_fails_is_rejected(repo: Path,
                                                         stand_in: StandIn) -> None:
    configure(repo)
    stand_in.answers = [STILL_FAILS]
    out = fix_auto(repo, stand_in)
    assert not LINE.search(out)
    assert re.search(r"^fix:calc: no fix found for test:calc: test:calc still fails after the "
                     r"model stand-in \(ollama\) \(.*\); rejected$", out, re.M), out
    assert not list((repo / ".fedbuild").glob("fixes/*/*.patch"))


@pytest.mark.parametrize(("answer", "said"), [
    (GARBAGE, "answered no unified diff; rejected"),
    (NOT_APPLYING, r"diff does not apply \(.*calc\.py.*\); rejected"),
])
def test_what_is_not_a_diff_that_applies_is_rejected(repo: Path, stand_in: StandIn,
                                                     answer: str, said: str) -> None:
    configure(repo)
    stand_in.answers = [answer]
    out = fix_auto(repo, stand_in)
    assert re.search(r"^fix:calc: no fix found for test:calc: the model stand-in \(ollama\)"
                     rf"(?:'s)? {said}$", out, re.M), out
    assert not list((repo / ".fedbuild").glob("fixes/*/*.patch"))
    assert git(repo, "status", "--porcelain") == ""


def test_no_call_is_made_unless_a_model_is_configured(repo: Path, stand_in: StandIn) -> None:
    out = fix_auto(repo, stand_in)  # OLLAMA_HOST is set, the manifest names no model
    assert "fix:" not in out
    assert stand_in.requests == []


def test_an_openai_compatible_server_with_a_token(repo: Path, stand_in: StandIn) -> None:
    configure(repo, api="openai", url=f"{stand_in.url}/v1", api_key_env="STAND_IN_TOKEN")
    done = run_doit(repo, "fix=auto", "test:calc", env={"STAND_IN_TOKEN": "t0ken"})
    found = LINE.search(done.stdout)
    assert found and found["fixer"] == "the model stand-in (openai)", done.stdout
    [request] = stand_in.requests
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer t0ken"


def test_attempts_are_bounded_and_each_is_recorded(repo: Path, stand_in: StandIn) -> None:
    configure(repo)  # one attempt (the default): garbage, and no second question
    stand_in.answers = [GARBAGE, GOOD]
    assert not LINE.search(fix_auto(repo, stand_in))
    assert len(stand_in.requests) == 1
    configure(repo, attempts=2)
    stand_in.answers = [GARBAGE, GOOD]
    stand_in.requests.clear()
    out = fix_auto(repo, stand_in)
    lines = [line for line in out.splitlines() if line.startswith("fix:calc:")]
    assert len(lines) == 2 and "answered no unified diff" in lines[0], out
    assert LINE.fullmatch(lines[1]) and len(stand_in.requests) == 2
    shown = run_command(repo, "history", "--run", "2").stdout.splitlines()
    assert lines[0] in shown and lines[1] in shown, shown


def test_the_question_is_bounded(repo: Path, stand_in: StandIn) -> None:
    configure(repo, max_bytes=1000)
    calc = repo / "modules/calc/calc.py"
    calc.write_text(calc.read_text() + "\n" + "# padding\n" * 500)
    fix_auto(repo, stand_in)
    asked = stand_in.requests[0]["body"]["messages"][-1]["content"]
    assert len(asked.encode()) <= 1000
    assert "add(2, 3) is -1, not 5" in asked and "--- calc.py ---" not in asked


def test_reading_answers_and_logs() -> None:
    assert diff_in(GARBAGE) is None
    assert diff_in("--- a/x\n+++ b/x\nno hunk\n") is None
    assert diff_in(GOOD) == GOOD.split("```diff\n")[1].split("```")[0]
    assert ollama_host("http://h:1/") == "http://h:1"


def test_the_files_a_log_names_stay_inside_the_module(tmp_path: Path) -> None:
    module = tmp_path / "m"
    (module / "src").mkdir(parents=True)
    (module / "src/a.rs").write_text("")
    (tmp_path / "secret.txt").write_text("")
    log = f" --> src/a.rs:2:5\n{tmp_path}/secret.txt\n../secret.txt\n{module}/src/a.rs\n"
    assert named_files(log, module, module) == ["src/a.rs"]
