"""The language-model fixer of `doit fix=auto` (tasks/fix.py), used only when the manifest's
`federation.fix.llm` names a model: nothing is sent anywhere otherwise.

What is sent, bounded by `max_bytes`: the failed step's commands, the last lines of its log,
and the module's files the log names. What is expected back: a unified diff of the module's
files (paths relative to the module's folder). Two protocols: Ollama's `/api/chat`
(`OLLAMA_HOST`, as Ollama's own client reads it) and any OpenAI-compatible
`/chat/completions`. The answer is only text here: tasks/fix.py checks that the diff applies
(`git apply --check`) and proves it like any other fix.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

from federation.manifest import LlmFixer
from federation.steps import StepPlan

OLLAMA_DEFAULT = "http://127.0.0.1:11434"
_LOG_LINES = 80
_ANSWER_LIMIT = 2_000_000  # bytes read of an answer at most
_NAMED = re.compile(r"(?:[\w.+-]+/)*[\w+-][\w.+-]*\.[A-Za-z0-9]{1,8}")
_FENCE = re.compile(r"```[a-zA-Z]*[ \t]*\n(.*?)```", re.S)
SYSTEM = ("You fix a failed build step. Answer with one unified diff (as `git diff` writes it, "
          "paths relative to the module's folder with a/ and b/ prefixes) that makes the "
          "step pass, and nothing else.")


class ModelError(Exception):
    """The model could not be asked, or its answer could not be read (one line)."""


def prompt(plan: StepPlan, max_bytes: int) -> str:
    """What the model is told of the failure: the commands, the log's last lines, then as
    many of the files the log names as fit in `max_bytes`."""
    module = plan.module_dir or plan.cwd
    commands = "\n".join(shlex.join(_short(argv, module)) for argv in plan.commands)
    tail = _log_tail(plan.log).replace(str(module) + os.sep, "")
    text = (f"The step {plan.task} of the module {plan.module} failed. It runs, in the "
            f"module's folder {os.path.relpath(plan.cwd, module)}:\n{commands}\n\n"
            f"The last lines of its log:\n{tail}\n")
    text = _fit(text, max_bytes)
    for name in named_files(tail, plan.cwd, module):
        part = f"\n--- {name} ---\n{(module / name).read_text(errors='replace')}"
        if len((text + part).encode()) > max_bytes:
            continue
        text += part
    return text


def _short(argv: tuple[str, ...], module: Path) -> tuple[str, ...]:
    """A command with the module's folder shown as '.'."""
    return tuple(arg.replace(str(module), ".") for arg in argv)


def _log_tail(log: Path) -> str:
    """The last lines of a step's log ('' when there is none)."""
    if not log.is_file():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-_LOG_LINES:])


def _fit(text: str, max_bytes: int) -> str:
    """`text` cut from the front to `max_bytes` (the end of a log says most)."""
    data = text.encode()
    return text if len(data) <= max_bytes else data[-max_bytes:].decode(errors="ignore")


def named_files(log: str, cwd: Path, module: Path) -> list[str]:
    """The files of the module the log names (relative to the step's folder, the module's,
    or absolute), relative to the module, in the order named; never outside it."""
    found: list[str] = []
    top = module.resolve()
    for word in _NAMED.findall(log):
        for base in (cwd, module):
            path = (base / word).resolve()
            if path.is_file() and path.is_relative_to(top) and ".git" not in path.parts:
                name = path.relative_to(top).as_posix()
                if name not in found:
                    found.append(name)
                break
    return found


def diff_in(answer: str) -> str | None:
    """The unified diff in a model's answer (inside a fenced block or not), or None."""
    fenced = _FENCE.search(answer)
    text = fenced.group(1) if fenced else answer
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines)
                  if line.startswith(("diff --git ", "--- "))), None)
    if start is None or not any(line.startswith("@@") for line in lines[start:]):
        return None
    return "\n".join(lines[start:]) + "\n"


def ask(llm: LlmFixer, text: str) -> str:
    """The model's answer to `text` (ModelError when it cannot be had)."""
    url, body = _request(llm, text)
    headers = {"Content-Type": "application/json"}
    if llm.api_key_env:
        token = os.environ.get(llm.api_key_env)
        if not token:
            raise ModelError(f"${llm.api_key_env} (api_key_env) is not set")
        headers["Authorization"] = f"Bearer {token}"
    answer = _post(url, body, headers, llm.timeout)
    try:
        if llm.api == "ollama":
            return str(answer["message"]["content"])
        return str(answer["choices"][0]["message"]["content"])
    except (KeyError, IndexError, TypeError) as err:
        raise ModelError(f"{url} answered without a message ({err!r} missing)") from None


def _request(llm: LlmFixer, text: str) -> tuple[str, dict[str, object]]:
    """The URL and the JSON body asking `llm` about `text`."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
    if llm.api == "ollama":
        return (f"{ollama_host(llm.url)}/api/chat",
                {"model": llm.model, "messages": messages, "stream": False,
                 "options": {"temperature": 0}})
    return (f"{(llm.url or '').rstrip('/')}/chat/completions",
            {"model": llm.model, "messages": messages, "temperature": 0})


def ollama_host(url: str | None = None) -> str:
    """Ollama's address: the manifest's url, else $OLLAMA_HOST (host:port or a URL, as
    Ollama's client takes it), else its default."""
    host = (url or os.environ.get("OLLAMA_HOST") or OLLAMA_DEFAULT).rstrip("/")
    return host if re.match(r"https?://", host) else f"http://{host}"


def _post(url: str, body: dict[str, object], headers: dict[str, str],
          timeout: float) -> dict[str, Any]:
    """POST JSON, read JSON back, within `timeout` seconds."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers,
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read(_ANSWER_LIMIT)
    except urllib.error.HTTPError as err:
        raise ModelError(f"{url} answered HTTP {err.code}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ModelError(f"{url} could not be reached: {reason}") from None
    try:
        answer = json.loads(data)
    except ValueError:
        raise ModelError(f"{url} answered something that is not JSON") from None
    if not isinstance(answer, dict):
        raise ModelError(f"{url} answered JSON that is not an object")
    return answer
