"""The Unity parser on canned output, the report's verdicts and its JUnit XML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from hardware.unity import CaseStatus, TestCase, UnityParser, UnityReport, junit_xml

PASSING = """\
boot: app starting
test/test_math.c:10:test_add:PASS
test/test_math.c:14:test_div:FAIL: Expected 2 Was 3
test/test_math.c:20:test_later:IGNORE: needs a sensor
test/test_math.c:25:test_plain_ignore:IGNORE

-----------------------
4 Tests 1 Failures 2 Ignored
FAIL
"""

GURU = """\
test/test_main.c:34:test_first:PASS
Running test_crashes...
Guru Meditation Error: Core  0 panic'ed (Load access fault). Exception was unhandled.

Core  0 register dump:
MEPC    : 0x8000031e  RA      : 0x80000328  SP      : 0x800051e0  GP      : 0x80001434
Backtrace: 0x8000031e:0x800051e0 0x80000328:0x800051e0
test/test_main.c:40:test_after:PASS
Rebooting...
"""


def parse(text: str, banner: str | None = None) -> UnityParser:
    parser = UnityParser(re.compile(banner) if banner else None)
    parser.feed(text)
    parser.finish()
    return parser


def report_of(parser: UnityParser, **fields: object) -> UnityReport:
    report = UnityReport("/dev/ttyUSB0", parser.cases, parser.summary, parser.crash,
                         timeout=10.0)
    for name, value in fields.items():
        setattr(report, name, value)
    return report


def test_cases_and_summary() -> None:
    parser = parse(PASSING)
    assert [(c.name, c.status, c.message) for c in parser.cases] == [
        ("test_add", CaseStatus.PASSED, ""),
        ("test_div", CaseStatus.FAILED, "Expected 2 Was 3"),
        ("test_later", CaseStatus.IGNORED, "needs a sensor"),
        ("test_plain_ignore", CaseStatus.IGNORED, ""),
    ]
    assert (parser.cases[1].file, parser.cases[1].line) == ("test/test_math.c", 14)
    assert parser.summary is not None and parser.summary.describe() == \
        "4 Tests 1 Failures 2 Ignored FAIL"
    assert parser.complete and parser.crash is None


def test_case_lines_as_printed() -> None:
    cases = parse(PASSING).cases
    assert [c.describe() for c in cases] == [
        "PASS test_add",
        "FAIL test_div: Expected 2 Was 3 (test/test_math.c:14)",
        "IGNORE test_later: needs a sensor",
        "IGNORE test_plain_ignore",
    ]


def test_chunks_split_anywhere_crlf_and_colours() -> None:
    text = ("\x1b[0;32mtest/a.c:3:test_one:PASS\x1b[0m\r\n"
            "C:\\src\\test\\b.c:7:test two [tag]:FAIL: Expected 'x' Was 'y'\r\n"
            "2 Tests 1 Failures 0 Ignored\r\nFAIL\r\n")
    parser = UnityParser()
    seen: list[TestCase] = []
    for i in range(0, len(text), 5):  # a slow port: lines arrive in pieces
        seen += parser.feed(text[i:i + 5], now=float(i))
    assert [(c.file, c.name) for c in seen] == [
        ("test/a.c", "test_one"), ("C:\\src\\test\\b.c", "test two [tag]")]
    assert seen[1].message == "Expected 'x' Was 'y'"
    assert seen[1].time > 0  # since the previous result
    assert parser.summary is not None and not parser.summary.ok


def test_incomplete_without_verdict() -> None:
    parser = parse("test/a.c:3:test_one:PASS\n1 Tests 0 Failures 0 Ignored\n")
    assert parser.summary is None and not parser.complete


def test_ok_run_has_no_problems() -> None:
    parser = parse("a.c:1:test_a:PASS\na.c:2:test_b:PASS\n2 Tests 0 Failures 0 Ignored\nOK\n")
    report = report_of(parser)
    assert report.ok and report.problems() == []


def test_failures_are_problems() -> None:
    assert report_of(parse(PASSING)).problems() == ["1 of 4 tests failed: test_div"]


def test_summary_mismatch() -> None:
    # A case line lost on the way: Unity counted 3, we read 2.
    parser = parse("a.c:1:test_a:PASS\na.c:3:test_c:PASS\n3 Tests 0 Failures 0 Ignored\nOK\n")
    (problem,) = report_of(parser).problems()
    assert "does not match the 2 results read" in problem


def test_crash_collects_the_rest_and_stops_parsing() -> None:
    parser = parse(GURU)
    assert [c.name for c in parser.cases] == ["test_first"]  # test_after: after the crash
    assert parser.crash is not None and parser.rebooted
    assert parser.crash.test == "test_crashes"
    assert parser.crash.reason.startswith("Guru Meditation Error: Core  0 panic'ed")
    assert "Backtrace: 0x8000031e:0x800051e0 0x80000328:0x800051e0" in parser.crash.lines
    assert report_of(parser).problems() == [
        "the firmware crashed during test_crashes: Guru Meditation Error: Core  0 panic'ed "
        "(Load access fault). Exception was unhandled."]


def test_other_crash_lines() -> None:
    for line in ("abort() was called at PC 0x42008a1e on core 0",
                 "***ERROR*** A stack overflow in task main has been detected.",
                 "assert failed: app_main main.c:12 (x == 1)",
                 "Backtrace: 0x400d1234:0x3ffb0000 |<-CORRUPTED"):
        parser = parse(f"a.c:1:test_a:PASS\n{line}\n")
        assert parser.crash is not None and parser.crash.reason == line, line


def test_banner_skips_an_earlier_run() -> None:
    text = ("a.c:1:test_old:FAIL: stale\n1 Tests 1 Failures 0 Ignored\nFAIL\n"
            "=== fedbuild tests ===\n"
            "a.c:1:test_new:PASS\n1 Tests 0 Failures 0 Ignored\nOK\n")
    parser = parse(text, banner=r"^=== fedbuild tests")
    assert [c.name for c in parser.cases] == ["test_new"]
    assert parser.summary is not None and parser.summary.ok


def test_timeout_and_silence_messages() -> None:
    partial = report_of(parse("a.c:1:test_a:PASS\na.c:2:test_b:PASS\n"),
                        output="boot\na.c:1:test_a:PASS\na.c:2:test_b:PASS\n")
    assert partial.problems() == [
        "timed out after 10s waiting for the Unity summary; received: "
        "boot | a.c:1:test_a:PASS | a.c:2:test_b:PASS"]
    silent = report_of(UnityParser(), silent=True)
    assert silent.problems() == ["no output from /dev/ttyUSB0 within 10s"]
    closed = report_of(UnityParser(), closed="socket disconnected", duration=0.25)
    assert closed.problems() == ["/dev/ttyUSB0 closed after 0.2s (socket disconnected) before "
                                 "the Unity summary arrived; received: nothing"]


def test_junit_counts_cases_and_output(tmp_path: Path) -> None:
    report = report_of(parse(PASSING), output=PASSING + "\x1b[0;31mcolour\x1b[0m \x07bell\n",
                       duration=1.5)
    path = tmp_path / "reports" / "unity.xml"
    junit_xml(report, "calc", path)
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert {k: suite.get(k) for k in ("name", "tests", "failures", "errors", "skipped")} == {
        "name": "calc", "tests": "4", "failures": "1", "errors": "0", "skipped": "2"}
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    failure = cases["test_div"].find("failure")
    assert failure is not None and failure.get("message") == "Expected 2 Was 3"
    assert cases["test_add"].get("classname") == "test_math"
    assert cases["test_later"].find("skipped") is not None
    out = suite.findtext("system-out") or ""
    assert "4 Tests 1 Failures 2 Ignored" in out and "colour bell" in out  # no ESC, no BEL
    assert list(tmp_path.joinpath("reports").iterdir()) == [path]  # no temp file left


def test_junit_crash_is_an_error_case(tmp_path: Path) -> None:
    parser = parse(GURU)
    report = report_of(parser)
    assert report.crash is not None
    report.crash.note = "not decoded: no ELF given (--elf)"
    junit_xml(report, "crashing", tmp_path / "j.xml")
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("errors")) == ("2", "1")
    error = suite.find("testcase[@name='test_crashes']/error")
    assert error is not None and error.get("type") == "crash"
    assert "Backtrace: 0x8000031e" in (error.text or "")
    assert "no ELF given" in (error.text or "")


def test_junit_incomplete_run_is_an_error_case(tmp_path: Path) -> None:
    junit_xml(report_of(UnityParser(), silent=True), "silent", tmp_path / "j.xml")
    error = ET.parse(tmp_path / "j.xml").getroot().find("testsuite/testcase/error")
    assert error is not None and error.get("message") == "no output from /dev/ttyUSB0 within 10s"


def test_junit_keeps_the_end_of_a_long_output(tmp_path: Path) -> None:
    lines = [f"line {i:06d}" for i in range(20000)]  # ~240 KB
    report = report_of(parse("a.c:1:test_a:PASS\n1 Tests 0 Failures 0 Ignored\nOK\n"),
                       output="\n".join(lines) + "\n")
    junit_xml(report, "long", tmp_path / "j.xml")
    out = ET.parse(tmp_path / "j.xml").getroot().findtext("testsuite/system-out") or ""
    assert out.startswith("[... the first ") and out.endswith("line 019999\n")
    assert out.splitlines()[1].startswith("line ") and len(out) <= 64 * 1024 + 100
