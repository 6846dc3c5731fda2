"""Unity test output as it streams in: test cases, the summary, crashes; and its JUnit XML.

Unity prints one line a case (`file:line:name:PASS`, `...:FAIL: message`, `...:IGNORE`) and
ends with `N Tests M Failures K Ignored` and `OK` or `FAIL`. ESP-IDF adds its panic
handler's output (`Guru Meditation Error`, `Backtrace:`, ...) when the firmware crashes.
"""

from __future__ import annotations

import enum
import os
import re
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from core.confine import remove_tree
from core.junit import LOG_BYTES, xml_text

_CASE = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):(?P<name>.+?):(?P<status>PASS|FAIL|IGNORE)\b:?\s*(?P<msg>.*)$")
_COUNTS = re.compile(r"^(\d+) Tests (\d+) Failures (\d+) Ignored\s*$")
_VERDICT = re.compile(r"^(OK|FAIL)\s*$")
_RUNNING = re.compile(r"^Running (?P<name>.+?)\.\.\.\s*$")  # ESP-IDF's Unity runner
_CRASH = re.compile(
    r"Guru Meditation Error|panic'ed|abort\(\) was called|^Backtrace:|"
    r"\*\*\*ERROR\*\*\* A stack overflow|^assert failed:|Stack smashing protect failure|"
    r"^Core\s+\d+ register dump:")
_REBOOT = re.compile(r"^Rebooting\.\.\.")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_STATUS = {"PASS": "passed", "FAIL": "failed", "IGNORE": "ignored"}
TAIL_LINES = 3  # of the output, quoted in a timeout's message


class CaseStatus(str, enum.Enum):
    """How one Unity test case ended."""

    PASSED = "passed"
    FAILED = "failed"
    IGNORED = "ignored"


@dataclass(frozen=True)
class TestCase:
    """One `file:line:name:STATUS[:message]` line."""

    __test__ = False  # not a pytest class, despite the name

    name: str
    file: str
    line: int
    status: CaseStatus
    message: str = ""
    time: float = 0.0  # seconds since the previous result arrived

    def describe(self) -> str:
        """`PASS test_add`, `FAIL test_div: Expected 2 Was 3 (test/test_math.c:14)`."""
        if self.status is CaseStatus.PASSED:
            return f"PASS {self.name}"
        if self.status is CaseStatus.IGNORED:
            return f"IGNORE {self.name}" + (f": {self.message}" if self.message else "")
        message = f": {self.message}" if self.message else ""
        return f"FAIL {self.name}{message} ({self.file}:{self.line})"


@dataclass(frozen=True)
class Summary:
    """Unity's last two lines: the counts and the verdict."""

    tests: int
    failures: int
    ignored: int
    ok: bool

    def describe(self) -> str:
        """As Unity prints it, on one line: `3 Tests 1 Failures 0 Ignored FAIL`."""
        verdict = "OK" if self.ok else "FAIL"
        return f"{self.tests} Tests {self.failures} Failures {self.ignored} Ignored {verdict}"


@dataclass
class Crash:
    """The firmware's crash output, from its first telltale line to the end of the reading."""

    lines: list[str]
    test: str | None = None  # the case that was running, when the runner said so
    decoded: str = ""  # the crash text with the source location of each code address
    note: str = ""  # how the addresses were decoded, or why they were not

    @property
    def reason(self) -> str:
        """The first crash line, e.g. "Guru Meditation Error: Core  0 panic'ed (...)"."""
        return self.lines[0]

    @property
    def text(self) -> str:
        """The decoded crash text if there is one, else the raw crash lines."""
        return self.decoded or "\n".join(self.lines)


class UnityParser:
    """Feed it text as it arrives; it keeps the cases, the summary and any crash."""

    def __init__(self, banner: re.Pattern[str] | None = None) -> None:
        self.cases: list[TestCase] = []
        self.summary: Summary | None = None
        self.crash: Crash | None = None
        self.rebooted = False  # "Rebooting..." after a crash: nothing more is coming
        self.banner = banner
        self.banner_seen = banner is None
        self._partial = ""
        self._counts: tuple[int, int, int] | None = None
        self._running: str | None = None
        self._mark: float | None = None

    @property
    def complete(self) -> bool:
        """Whether the run is over: Unity's summary arrived, or the firmware crashed."""
        return self.summary is not None or self.crash is not None

    def feed(self, text: str, now: float | None = None) -> list[TestCase]:
        """Parse the whole lines of `text` (the rest waits for more); the new cases."""
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        return [case for line in lines if (case := self.feed_line(line, now)) is not None]

    def finish(self, now: float | None = None) -> list[TestCase]:
        """Parse what is left of a last line without its newline (the stream has ended)."""
        rest, self._partial = self._partial, ""
        case = self.feed_line(rest, now) if rest.strip() else None
        return [case] if case is not None else []

    def feed_line(self, line: str, now: float | None = None) -> TestCase | None:
        """Parse one line; the case it reports, if any."""
        line = _ANSI.sub("", line).rstrip("\r\n").rstrip()
        if self._mark is None:
            self._mark = now
        if not self.banner_seen:
            # Lines before the banner are an earlier run's or the bootloader's: not ours.
            self.banner_seen = bool(self.banner and self.banner.search(line))
            return None
        if self.crash is not None:
            self.crash.lines.append(line)
            self.rebooted = self.rebooted or bool(_REBOOT.match(line))
            return None
        if _CRASH.search(line):
            self.crash = Crash([line], self._running)
            return None
        return self._unity_line(line, now)

    def _unity_line(self, line: str, now: float | None) -> TestCase | None:
        if self._counts is not None and line:
            verdict = _VERDICT.match(line)
            if verdict:
                self.summary = Summary(*self._counts, ok=verdict.group(1) == "OK")
            self._counts = None
            return None
        if counts := _COUNTS.match(line):
            self._counts = (int(counts[1]), int(counts[2]), int(counts[3]))
            return None
        if running := _RUNNING.match(line):
            self._running = running["name"]
            return None
        found = _CASE.match(line)
        if found is None:
            return None
        elapsed = 0.0
        if now is not None and self._mark is not None:
            elapsed, self._mark = max(0.0, now - self._mark), now
        case = TestCase(found["name"], found["file"], int(found["line"]),
                        CaseStatus(_STATUS[found["status"]]), found["msg"].strip(), elapsed)
        self.cases.append(case)
        self._running = None
        return case


@dataclass
class UnityReport:
    """What one reading of Unity output found, with everything that was received."""

    source: str  # the port or URL it came from
    cases: list[TestCase] = field(default_factory=list)
    summary: Summary | None = None
    crash: Crash | None = None
    output: str = ""
    duration: float = 0.0
    timeout: float = 0.0
    silent: bool = False  # nothing at all arrived
    closed: str = ""  # the stream ended before the run did (the reason), else ""
    banner: str | None = None  # the regex waited for, when it never matched
    notes: list[str] = field(default_factory=list)  # said along the way (a skipped reset, ...)

    def count(self, status: CaseStatus) -> int:
        """How many cases ended with `status`."""
        return sum(case.status is status for case in self.cases)

    def problems(self) -> list[str]:
        """Why this run is not a success, each a line; empty when it is one."""
        if self.silent:
            return [f"no output from {self.source} within {self.timeout:g}s"]
        found = []
        if self.crash is not None:
            during = f" during {self.crash.test}" if self.crash.test else ""
            found.append(f"the firmware crashed{during}: {self.crash.reason}")
        elif self.summary is None:
            found.append(self._incomplete())
        failed = [case.name for case in self.cases if case.status is CaseStatus.FAILED]
        if failed:
            total = self.summary.tests if self.summary else len(self.cases)
            found.append(f"{len(failed)} of {total} tests failed: {', '.join(failed)}")
        if self.summary is not None:
            found.extend(self._summary_problems())
        return found

    @property
    def ok(self) -> bool:
        """Success: the summary says OK, no case failed, nothing crashed."""
        return not self.problems()

    def _incomplete(self) -> str:
        waited = (f"the banner /{self.banner}/" if self.banner is not None
                  else "the Unity summary")
        lines = [line for line in _ANSI.sub("", self.output).splitlines() if line.strip()]
        received = " | ".join(lines[-TAIL_LINES:]) or "nothing"
        if self.closed:
            head = (f"{self.source} closed after {self.duration:.1f}s ({self.closed}) "
                    f"before {waited} arrived")
        else:
            head = f"timed out after {self.timeout:g}s waiting for {waited}"
        return f"{head}; received: {received}"

    def _summary_problems(self) -> list[str]:
        assert self.summary is not None
        found = []
        read = (len(self.cases), self.count(CaseStatus.FAILED), self.count(CaseStatus.IGNORED))
        said = (self.summary.tests, self.summary.failures, self.summary.ignored)
        if read != said:
            found.append(f"Unity's summary ({said[0]} tests, {said[1]} failures, {said[2]} "
                         f"ignored) does not match the {read[0]} results read ({read[1]} "
                         f"failed, {read[2]} ignored): output was lost or garbled")
        if not self.summary.ok and not self.summary.failures:
            found.append("Unity's verdict is FAIL")
        return found


# JUnit XML --------------------------------------------------------------------


def junit_xml(report: UnityReport, suite: str, path: Path) -> None:
    """Write `report` as JUnit XML to `path`, atomically (a reader sees old or new, whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    try:
        junit_tree(report, suite).write(tmp, encoding="utf-8", xml_declaration=True)
        tmp.replace(path)
    finally:
        remove_tree(tmp, path.parent)


def junit_tree(report: UnityReport, suite: str) -> ET.ElementTree:
    """`<testsuites>` of one `<testsuite>`: a `<testcase>` per Unity case, an error case for
    a crash or an incomplete run, and everything received in `<system-out>`."""
    cases = [_testcase(case, suite) for case in report.cases]
    errors = _error_cases(report, suite)
    counts = {"tests": str(len(cases) + len(errors)),
              "failures": str(report.count(CaseStatus.FAILED)),
              "errors": str(len(errors)),
              "skipped": str(report.count(CaseStatus.IGNORED))}
    seconds = f"{report.duration:.3f}"
    root = ET.Element("testsuites", {"name": suite, **counts, "time": seconds})
    element = ET.SubElement(root, "testsuite", {
        "name": suite, **counts, "time": seconds,
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "hostname": socket.gethostname()})
    element.extend(cases + errors)
    ET.SubElement(element, "system-out").text = _system_out(report.output)
    ET.indent(root)
    return ET.ElementTree(root)


def _system_out(output: str, limit: int = LOG_BYTES) -> str:
    """What was received, without colours; its end only, from a whole line, when long."""
    text = _ANSI.sub("", output)
    if len(text) > limit:
        left_out = len(text) - limit
        text = f"[... the first {left_out} characters are left out ...]\n" + \
            text[left_out:].partition("\n")[2]
    return xml_text(text)


def _testcase(case: TestCase, suite: str) -> ET.Element:
    element = ET.Element("testcase", {"classname": Path(case.file).stem or suite,
                                      "name": case.name, "file": case.file,
                                      "line": str(case.line), "time": f"{case.time:.3f}"})
    if case.status is CaseStatus.FAILED:
        message = xml_text(case.message or "failed")
        failure = ET.SubElement(element, "failure", {"message": message, "type": "failure"})
        failure.text = f"{case.file}:{case.line}: {message}"
    elif case.status is CaseStatus.IGNORED:
        ET.SubElement(element, "skipped", {"message": xml_text(case.message or "ignored")})
    return element


def _error_cases(report: UnityReport, suite: str) -> list[ET.Element]:
    """A crash, or a run that never finished, as an `<error>` case of its own."""
    if report.crash is not None:
        name, kind, text = report.crash.test or "crash", "crash", report.crash.text
        if report.crash.note:
            text += f"\n({report.crash.note})"
    elif report.summary is None:
        name, kind, text = "unity summary", "incomplete", ""
    else:
        return []
    message = report.problems()[0]
    case = ET.Element("testcase", {"classname": suite, "name": name, "time": "0.000"})
    error = ET.SubElement(case, "error", {"message": xml_text(message), "type": kind})
    error.text = xml_text(text or message)
    return [case]
