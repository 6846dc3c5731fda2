"""The manifest models: reference-format manifests load unchanged, fields mean what they say."""

from __future__ import annotations

import json

import pytest

from core.errors import ManifestError
from federation.graph import find_cycle, topological
from federation.manifest import Manifest, parse_manifest
from tests.conftest import FIXTURES

REFERENCE = FIXTURES / "reference-manifests"


def load(name: str) -> Manifest:
    """Parse one of the reference manifests."""
    return parse_manifest((REFERENCE / name).read_text(), name)


def test_reference_manifest_loads_unchanged() -> None:
    """The Hugo federation format's real-world example parses with its values intact."""
    manifest = load("real-world.json")
    fed = manifest.federation
    assert fed.baseURL == "https://info-tech-io.github.io"
    assert fed.build_settings.parallel and fed.build_settings.max_parallel_builds == 5
    quiz = manifest.modules[1]
    assert quiz.source.repository == "https://github.com/info-tech-io/quiz"
    assert (quiz.destination, quiz.css_path_prefix) == ("/quiz/", "/quiz")
    assert quiz.build_options.build_timeout == 300
    assert quiz.merge_strategy == "overwrite" and quiz.toolchain == "build.sh"


def test_older_spellings_are_understood() -> None:
    """parallel_builds, module-level priority, overrides.template and local_path all load."""
    manifest = load("older-spellings.json")
    assert manifest.federation.build_settings.parallel is False
    assert manifest.preserve_base_site
    quiz, local = manifest.modules
    assert quiz.build_priority == 10
    assert quiz.overrides.template == "documentation"
    assert quiz.source.branch == "feature/docs-update"
    assert quiz.build_options.skip_on_error and quiz.build_options.build_timeout == 600
    assert local.source.is_local and local.source.local_path == "sites"


@pytest.mark.parametrize(("text", "line"), [
    ('{"federation": {"name": "x", "baseURL": "https://x.org"}, "modules": [{"name": "a", '
     '"source": {"repository": "local"}, "destination": "/", "build_options": '
     '{"priority": 101}}]}',
     "m.json: modules[0].build_options.priority: Input should be less than or equal to 100 "
     "(got 101)"),
    ('{"federation": {"name": "x", "baseURL": "https://x.org", "build_settings": '
     '{"max_parallel_builds": 0}}, "modules": []}',
     "m.json: federation.build_settings.max_parallel_builds: Input should be greater than or "
     "equal to 1 (got 0) (and 1 more error)"),
])
def test_errors_are_one_line(text: str, line: str) -> None:
    """Each error message is a single line with file, JSON path and what is valid."""
    with pytest.raises(ManifestError) as err:
        parse_manifest(text, "m.json")
    assert str(err.value) == line
    assert "\n" not in str(err.value)


def test_cycle_is_reported_as_a_path() -> None:
    """find_cycle returns the loop; topological puts dependencies first."""
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": []}) is None
    assert topological({"web": ["lib"], "lib": [], "docs": ["web"]}) == ["lib", "web", "docs"]


def test_an_absolute_local_path_loads_as_the_reference_format_writes_it() -> None:
    """The reference format's schema requires an absolute source.local_path: it loads, as a
    relative one does; a '..' in it is still refused."""
    text = ('{"federation": {"name": "x", "baseURL": "https://x.org"}, "modules": [{"name": '
            '"a", "source": {"repository": "local", "local_path": "%s", "path": "docs"}, '
            '"destination": "/"}]}')
    assert parse_manifest(text % "/srv/sites", "m.json").modules[0].source.local_path \
        == "/srv/sites"
    assert parse_manifest(text % "sites", "m.json").modules[0].source.local_path == "sites"
    with pytest.raises(ManifestError) as err:
        parse_manifest(text % "/srv/../etc", "m.json")
    assert str(err.value).startswith("m.json: modules[0].source.local_path: '/srv/../etc'")


@pytest.mark.parametrize(("url", "refused"), [
    ("https://example.org", None),
    ("http://localhost:1313/docs/a%20b/", None),
    ("https://example.org/~user/", None),
    ("http://host/$(touch${IFS}/tmp/x)/", "holds '$'"),
    ("https://host/`id`/", "holds '`'"),
    ("https://host/a;b/", "holds ';'"),
    ("https://host/a b/", "holds ' '"),
    ("https://host/?q=1", "no query, fragment or user"),
    ("https://user@host/", "no query, fragment or user"),
    ("https://host/é/", "does not read back as written (as 'https://host/%C3%A9/')"),
    ("https://ho_st/", "no valid host[:port]"),
    ("https://host:99999/", "is not an http(s) URL"),
    ("ftp://host/", "is not an http(s) URL"),
])
def test_a_base_url_is_parsed_and_serialised_again(url: str, refused: str | None) -> None:
    """URLs handed to a build script are parsed, not pattern-matched: what does not read
    back as written, or holds what a shell would run, is refused."""
    text = json.dumps({"federation": {"name": "x", "baseURL": url}, "modules": [
        {"name": "a", "source": {"repository": "local"}, "destination": "/"}]})
    if refused is None:
        assert parse_manifest(text, "m.json").federation.baseURL == url
        return
    with pytest.raises(ManifestError) as err:
        parse_manifest(text, "m.json")
    assert str(err.value).startswith("m.json: federation.baseURL: ") and refused in str(err.value)
