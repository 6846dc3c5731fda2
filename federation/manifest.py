"""The models of modules.json and of a module's own module.json, validated once.

pydantic stays inside this module: everything downstream receives these frozen
models, and every pydantic error becomes one ManifestError line here.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import stat
import types
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import WithJsonSchema

from core.chips import NAMES as CHIP_NAMES
from core.errors import ManifestError
from core.sizes import parse_size

SCHEMA_FILE = "modules.schema.json"
# The schema's stable identifier: it names the schema (and its version), whatever file
# holds it; editors are pointed at the file (the checkout's, or the one installed with
# fedbuild in fedbuild_doit/lib/).
SCHEMA_ID = "https://fedbuild.example.org/schemas/modules/v1/modules.schema.json"

# Limits checked before a configuration file is parsed: its parsers recurse once per level
# (json raises RecursionError, libyaml's composer overflows the C stack), and a file of
# hundreds of megabytes is a mistake, not a manifest (500 modules take about 100 KB).
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_NAME_BYTES = 255  # a file name's limit on Linux and macOS
MAX_PATH_CHARS = 1024  # a path relative to the repository, leaving room for where it is

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_BRANCH = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9/_.-]*")
_GIT_URL = re.compile(r"(https?|ssh|git|file)://\S+|[\w.-]+@[\w.-]+:\S+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# fedbuild sets these itself; FEDBUILD_RUN marks every process of a run, so that a later
# run can find what a killed one left running: a declared env must not move that mark.
RESERVED_ENV_PREFIX = "FEDBUILD_"
# Validation context key: the toolchains fedbuild ships may set its own variables.
SHIPPED = "fedbuild_shipped"
_SEGMENT = re.compile(r"[A-Za-z0-9_.~-]+")


def _relative_path(value: str) -> str:
    path = PurePosixPath(value)
    if not value or "\0" in value:
        raise ValueError(f"{value!r} is not a path; give a path relative to the manifest's folder")
    if path.is_absolute() or re.match(r"[A-Za-z]:[\\/]", value):
        raise ValueError(f"{value!r} is absolute; give a path relative to the manifest's folder")
    if ".." in path.parts:
        raise ValueError(f"{value!r} escapes the repository; use a path inside it, without '..'")
    if len(value) > MAX_PATH_CHARS or any(len(part.encode("utf-8", "replace")) > MAX_NAME_BYTES
                                          for part in path.parts):
        raise ValueError(f"{_quote(value)} is too long for a path: at most {MAX_NAME_BYTES} "
                         f"bytes a name and {MAX_PATH_CHARS} characters in all")
    if value.startswith("-"):
        raise ValueError(f"{value!r} starts with '-'; rename it or prefix it with './'")
    return value


def _source_base(value: str) -> str:
    """A local source's base folder: relative to the manifest's folder, or absolute (the
    reference format's schema requires an absolute `local_path`). An absolute one may lie
    outside the repository: fedbuild only reads a module's source, never writes there."""
    if not PurePosixPath(value).is_absolute():
        return _relative_path(value)
    if "\0" in value or ".." in PurePosixPath(value).parts:
        raise ValueError(f"{_quote(value)} is not a folder's path; write it without '..'")
    if len(value) > MAX_PATH_CHARS or any(len(part.encode("utf-8", "replace")) > MAX_NAME_BYTES
                                          for part in PurePosixPath(value).parts):
        raise ValueError(f"{_quote(value)} is too long for a path: at most {MAX_NAME_BYTES} "
                         f"bytes a name and {MAX_PATH_CHARS} characters in all")
    return value


def _asset_name(kind: str) -> Any:
    """A validator of a template, theme or component name: one folder below the assets folder."""
    def check(value: str) -> str:
        if (value in {"", ".", ".."} or not value.isprintable() or any(c in value for c in "/\\,")
                or value.startswith("-") or len(value.encode("utf-8", "replace")) > MAX_NAME_BYTES):
            raise ValueError(f"{_quote(value)} is not a {kind} name: give the name of a folder in "
                             f"the assets folder's {kind}s/ (no '/', '\\' or ',', not '.' or "
                             f"'..', no leading '-', no control characters, at most "
                             f"{MAX_NAME_BYTES} bytes)")
        return _no_shell(f"{kind} name")(value)
    return check


def _module_name(value: str) -> str:
    if not _NAME.fullmatch(value) or value in {".", ".."}:
        raise ValueError(
            f"{value!r} is not a valid module name: use 1-64 letters, digits, '-', '_' or '.',"
            " starting with a letter or digit"
        )
    return value


def _tag(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid tag: use 1-64 letters, digits, '-', '_' or "
                         "'.', starting with a letter or digit")
    return value


def _destination(value: str) -> str:
    if not (value.startswith("/") and value.endswith("/")):
        raise ValueError(f"{value!r} must start and end with '/'")
    segments = [s for s in value.split("/") if s]
    for segment in segments:
        if segment in {".", ".."} or not _SEGMENT.fullmatch(segment):
            raise ValueError(
                f"{value!r} has an invalid segment {segment!r}: use letters, digits, '-', '_', '.'"
            )
    if "//" in value:
        raise ValueError(f"{value!r} has an empty segment; write it like '/docs/guide/'")
    return value


def _path_prefix(value: str) -> str:
    if value == "":
        return value
    segments = value.strip("/").split("/")
    if not value.startswith("/") or "//" in value or not all(
            _SEGMENT.fullmatch(s) and s not in {".", ".."} for s in segments if s):
        raise ValueError(f"{value!r} must be empty or a URL path like '/docs' (letters, digits, "
                         "'-', '_', '.' between slashes)")
    return value


def _step_name(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", value):
        raise ValueError(f"{value!r} is not a valid step name: use 1-32 lower-case letters, "
                         "digits, '-' or '_', starting with a letter")
    return value


def _toolchain_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", value):
        raise ValueError(f"{value!r} is not a valid toolchain name")
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as err:
        raise ValueError(f"{value!r} is not a regular expression: {err}") from None
    return value


def _repository(value: str) -> str:
    if value != "local" and not _GIT_URL.fullmatch(value):
        raise ValueError(
            f"{value!r} is neither 'local' nor a git URL (https://, ssh://, git@host:path, file://)"
        )
    return value


def _branch(value: str) -> str:
    if not _BRANCH.fullmatch(value) or ".." in value:
        raise ValueError(f"{value!r} is not a valid branch name")
    return value


# What a shell reads as code or as the end of a word: a value holding one of these is never
# handed to a build script (many run their arguments through eval).
SHELL_META = frozenset("$`;|&<>\"'\\\n\r")
_WHITESPACE = re.compile(r"\s")
_HOST_PORT = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*"
                        r"[A-Za-z0-9])?)*\.?(:[0-9]{1,5})?")
_URL_PATH_SAFE = "/%-._~+,=:@"  # RFC 3986 path characters a shell takes literally


def shell_meta(value: str, spaces: bool = True) -> str | None:
    """The first character of `value` a shell would read as code (or, unless `spaces`, as
    the end of a word); None when a build script may be handed it."""
    for char in value:
        if char in SHELL_META or (not spaces and _WHITESPACE.match(char)) or (
                not char.isprintable() and char != " "):
            return char
    return None


def _no_shell(what: str, spaces: bool = False) -> Any:
    """A validator refusing text a build script's shell could run (its arguments are often
    eval'ed): one line naming the character."""
    def check(value: str) -> str:
        char = shell_meta(value, spaces)
        if char is not None:
            end = "" if spaces else " or a word end"
            raise ValueError(f"{_quote(value)} holds {char!r}, which a build script's shell "
                             f"would read as code{end}; a {what} passed to the build script "
                             "may hold no $ ` ; | & < > quotes \\ or newline"
                             + ("" if spaces else " and no whitespace"))
        return value
    return check


def _base_url(value: str) -> str:
    """An http(s) URL, parsed and serialised again: it must come back as written, with no
    query, fragment or credentials and nothing a shell would read as code."""
    example = "an http(s) URL like 'https://example.org/docs/'"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as err:
        raise ValueError(f"{_quote(value)} is not {example}: {err}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{_quote(value)} is not {example}")
    char = shell_meta(value, spaces=False)
    if char is not None:
        raise ValueError(f"{_quote(value)} holds {char!r}, which a build script's shell would "
                         f"read as code or a word's end; percent-encode it "
                         f"({quote(char, safe='')!r}) or remove it")
    if parts.query or parts.fragment or "?" in value or "#" in value or "@" in parts.netloc:
        raise ValueError(f"{_quote(value)} is not a base URL: give scheme, host, port and "
                         "path only (no query, fragment or user)")
    if not _HOST_PORT.fullmatch(parts.netloc) or (port is not None and not 0 < port < 65536):
        raise ValueError(f"{_quote(value)} has no valid host[:port] ({parts.netloc!r})")
    again = urlunsplit((parts.scheme, parts.netloc, quote(parts.path, safe=_URL_PATH_SAFE), "",
                        ""))
    if again != value:
        raise ValueError(f"{_quote(value)} does not read back as written (as {_quote(again)}); "
                         "percent-encode its path")
    return value


def _cache_url(value: str) -> str:
    if not re.fullmatch(r"(https?|rediss?)://[^\s/]+(/\S*)?", value):
        raise ValueError(f"{value!r} is not a cache server URL: use http(s)://host[:port]/path "
                         "(Bazel's /ac/ and /cas/ layout: nginx WebDAV, bazel-remote) or "
                         "redis://host[:port][/db]")
    return value


def _size(value: object) -> int:
    """A size in bytes, by the one rule of core/sizes.py."""
    return parse_size(value)  # type: ignore[arg-type]  # anything: parse_size says what is wrong


def _env(value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
    shipped = bool((info.context or {}).get(SHIPPED))
    for key in value:
        if not _ENV_NAME.fullmatch(key):
            raise ValueError(f"{key!r} is not a valid environment variable name")
        if key.startswith(RESERVED_ENV_PREFIX) and not shipped:
            raise ValueError(f"{key!r} is reserved: fedbuild sets {RESERVED_ENV_PREFIX}* "
                             "variables itself (FEDBUILD_RUN marks a run's processes); "
                             "use another name")
    return value


RelPath = Annotated[str, AfterValidator(_relative_path)]
SourceBase = Annotated[str, AfterValidator(_source_base)]
# Text passed to a build script: titles (spaces allowed), paths (none).
ScriptText = Annotated[str, AfterValidator(_no_shell("title", spaces=True))]
ModuleName = Annotated[str, AfterValidator(_module_name)]
Tag = Annotated[str, AfterValidator(_tag)]
Destination = Annotated[str, AfterValidator(_destination)]
PathPrefix = Annotated[str, AfterValidator(_path_prefix)]
Repository = Annotated[str, AfterValidator(_repository)]
Branch = Annotated[str, AfterValidator(_branch)]
BaseURL = Annotated[str, AfterValidator(_base_url)]
Env = Annotated[dict[str, str], AfterValidator(_env)]
CacheURL = Annotated[str, AfterValidator(_cache_url)]
Regex = Annotated[str, AfterValidator(_regex)]
# Bytes once validated; the schema shows what may be written (65536 or "64K").
Size = Annotated[int, BeforeValidator(_size), WithJsonSchema({
    "anyOf": [{"type": "integer", "exclusiveMinimum": 0}, {"type": "string"}],
    "description": "Bytes, or a size like '64K' (65536), '64KB' (64000), '5GB'"})]
TemplateName = Annotated[str, AfterValidator(_asset_name("template"))]
ThemeName = Annotated[str, AfterValidator(_asset_name("theme"))]
ComponentName = Annotated[str, AfterValidator(_asset_name("component"))]

MergeStrategy = Literal["overwrite", "preserve", "merge", "error"]
# The toolchains fedbuild ships (tasks/toolchains/NAME.yaml): offered by editors; a
# repository's own toolchains/NAME.yaml names are valid too.
SHIPPED_TOOLCHAINS = sorted(path.name.removesuffix(".yaml") for path in
                            (Path(__file__).resolve().parent.parent / "tasks" / "toolchains")
                            .glob("*.yaml"))
ToolchainName = Annotated[str, AfterValidator(_toolchain_name), WithJsonSchema({
    "anyOf": [{"enum": SHIPPED_TOOLCHAINS},
              {"type": "string", "description": "A toolchain of the repository's own "
               "toolchains/NAME.yaml"}]})]
Platform = Literal["linux", "darwin", "win32", "linux-x64", "linux-arm64", "darwin-x64",
                   "darwin-arm64", "win32-x64", "win32-arm64"]
# The chips are core/chips.py's, listed once there; a Literal of them keeps the
# schema's enum and the "expected 'esp32', ..." error line.
if TYPE_CHECKING:
    Chip = str
else:
    Chip = Literal[CHIP_NAMES]


def _all_chips(value: object) -> object:
    """A toolchain's `targets: all`: every chip fedbuild knows."""
    return list(CHIP_NAMES) if value == "all" else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class BuildSettings(_Model):
    """Federation-wide build settings (the Hugo federation format's `build_settings`)."""

    parallel: bool = Field(True, validation_alias=AliasChoices("parallel", "parallel_builds"),
                           description="Build modules in parallel, one worker per CPU, when "
                           "doit gets no -n; false: one task at a time")
    max_parallel_builds: int = Field(3, ge=1, le=10, description="At most this many "
                                     "workers when parallel is true (default: the number of "
                                     "CPUs)")
    cache_enabled: bool = Field(True, description="Use the action cache")
    performance_tracking: bool = Field(False, description="End each run's summary with its "
                                       "slowest tasks, their peak memory and CPU time "
                                       "(recorded in the history either way: doit stats)")
    fail_fast: bool = Field(False, description="Start no new module after the first failure")
    preserve_base_site: bool = Field(False, description="Older spelling of strategy "
                                     "'preserve-base-site'")
    css_path_resolution: bool = Field(True, description="Rewrite absolute links of modules "
                                      "published below the root")


class RemoteCache(_Model):
    """A cache server shared by clones and CI machines. Its token, if any, comes from the
    environment (FEDBUILD_CACHE_TOKEN), never from this file."""

    url: CacheURL = Field(description="http(s):// (Bazel's /ac/ and /cas/ layout) or "
                          "redis://")
    read_only: bool = Field(False, description="Only read (untrusted builds, pull requests)")
    connect_timeout: float = Field(2.0, gt=0, le=60, description="Seconds to connect")
    timeout: float = Field(10.0, gt=0, le=600, description="Seconds for each read or write")


class CacheSettings(_Model):
    """The action cache: a local folder, and optionally a server."""

    dir: RelPath | None = Field(None, description="The local cache folder (default "
                                ".fedbuild/cache)")
    max_size: Size = Field("5GB", validate_default=True,
                           description="Least recently used entries go beyond this")
    max_age_days: float = Field(7, gt=0, le=3650, description="Entries unused this long go")
    remote: RemoteCache | None = Field(None, description="A shared cache server")


class Execution(_Model):
    """Where cacheable steps run: here or on a Dask cluster. The command line (`executor=`,
    `scheduler=`, `remote_jobs=`) and FEDBUILD_SCHEDULER win over it."""

    executor: Literal["local", "dask", "dask,local-fallback"] = Field(
        "local", description="local (here), dask (a Dask cluster: needs scheduler and a "
        "remote cache), dask,local-fallback (here when the scheduler does not answer)")
    scheduler: str | None = Field(None, pattern=r"^[a-z]+://\S+$", description="The Dask "
                                  "scheduler's address: tcp://HOST:PORT, tls://HOST:PORT")
    remote_jobs: int | None = Field(None, ge=1, le=100_000, description="Tasks in flight on "
                                    "the cluster at once (default: its total threads)")


class LlmFixer(_Model):
    """A language model asked for a fix, as a unified diff, when a step fails under
    fix=auto (tasks/llm_fix.py). Nothing is sent anywhere unless this is given."""

    api: Literal["ollama", "openai"] = Field("ollama", description="ollama (its /api/chat) or "
                                             "openai (any OpenAI-compatible /chat/completions)")
    model: str = Field(min_length=1, max_length=200, description="The model's name "
                       "(qwen2.5-coder:7b)")
    url: str | None = Field(None, pattern=r"^https?://\S+$", description="The server: ollama "
                            "defaults to $OLLAMA_HOST, else http://127.0.0.1:11434; openai needs "
                            "it, up to /v1 (https://api.example.org/v1)")
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="The "
                                    "environment variable holding the bearer token (never "
                                    "this file)")
    timeout: float = Field(120, gt=0, le=3600, description="Seconds for the model's answer")
    max_bytes: int = Field(24_000, ge=1000, le=1_000_000, description="What is sent at most: "
                           "the command, the log's last lines, the files the log names")

    @model_validator(mode="after")
    def _openai_has_url(self) -> LlmFixer:
        if self.api == "openai" and self.url is None:
            raise ValueError("api 'openai' needs the server's url (https://HOST/v1)")
        return self


class FixSettings(_Model):
    """How `doit fix=auto` tries to fix a failed step."""

    attempts: int = Field(1, ge=1, le=10, description="Attempts per failed step: the step's "
                          "fixers first, then the model (each in a fresh scratch copy)")
    llm: LlmFixer | None = Field(None, description="A model asked for a fix (none: no "
                                 "network call is made)")


Level = Literal["error", "warn", "off"]
# What a redirect's path or target may not hold: it is written into an nginx map and a
# _redirects file, one line each, fields separated by whitespace.
_REDIRECT_BAD = re.compile(r"[\s;\"'{}\\`$<>|]")


def _redirect_from(value: str) -> str:
    if not value.startswith("/") or _REDIRECT_BAD.search(value) or "?" in value or \
            "#" in value or any(part in (".", "..") for part in value.split("/")):
        raise ValueError(f"{_quote(value)} is not a URL path to redirect from: give one like "
                         "'/old/page.html' or '/old/' (no query, fragment, '..', whitespace "
                         "or quotes)")
    return value


def _redirect_to(value: str) -> str:
    if _REDIRECT_BAD.search(value) or not (value.startswith("/") or re.match(
            r"https?://[^/]", value)):
        raise ValueError(f"{_quote(value)} is not a redirect target: give a URL path like "
                         "'/new/' or an http(s) URL (no whitespace or quotes)")
    return value


class Redirect(_Model):
    """A URL that moved: a static redirect page, an nginx map line, a _redirects line."""

    from_: Annotated[str, AfterValidator(_redirect_from)] = Field(
        alias="from", description="The old URL path ('/old/page.html', '/old/'). When it and "
        "`to` both end with '/', every published page below `to` is also reachable below it "
        "(a module whose destination moved keeps its old URLs)")
    to: Annotated[str, AfterValidator(_redirect_to)] = Field(
        description="Where it moved: a URL path of the federation or an http(s) URL")
    status: Literal[301, 302, 307, 308] = Field(301, description="The HTTP status the nginx "
                                                "map and _redirects answer with")


class Validation(_Model):
    """What the checks of a new published tree do with each kind of problem: `error` keeps
    the old tree and fails, `warn` publishes and reports it, `off` does not report it."""

    module_links: Level = Field("warn", description="Links a module's own build left broken "
                                "(its own output lacks the target too: a theme's missing "
                                "favicon, a wrong slug)")
    federation_links: Level = Field("error", description="Links the federation broke: into "
                                    "another module's folder, or to a file the module's "
                                    "output had and the merge dropped (rewritten links)")
    missing_index: Level = Field("error", description="A published module's destination "
                                 "without an index page")
    anchors: Level = Field("warn", description="A #fragment link naming no id of the page "
                           "it leads to (Docusaurus's onBrokenAnchors)")
    duplicate_routes: Level = Field("warn", description="Two modules (or the existing site) "
                                    "producing the same path: the merge strategy keeps one "
                                    "(Docusaurus's onDuplicateRoutes)")
    ignore: list[Annotated[str, Field(min_length=1)]] = Field(
        [], description="Globs of URL paths (fnmatch; * crosses '/') whose problems are not "
        "reported: a broken link's target (/favicon.ico, /blog/tags/*) or the page holding it "
        "(/legacy/*)")
    new_only: bool = Field(False, description="Fail only on problems the currently published "
                           "tree does not have already (those are warnings)")


class Federation(_Model):
    """The `federation` object: the published site as a whole."""

    name: str = Field(min_length=1, max_length=100, description="The federation's name")
    baseURL: BaseURL = Field(description="The published site's URL; each module's is this "
                             "+ its destination")
    strategy: Literal["download-merge-deploy", "preserve-base-site"] = Field(
        "download-merge-deploy", description="preserve-base-site keeps files of the "
        "existing published tree that no module owns")
    build_settings: BuildSettings = Field(BuildSettings(), description="Parallelism, cache, "
                                          "failure handling")
    build_script: RelPath = Field("scripts/build.sh",
                                  description="The script run once per build.sh site module")
    assets_dir: RelPath = Field(".", description="Folder holding templates/, themes/ and "
                                "components/ used by the build script")
    output_dir: RelPath = Field("public", description="Where the federated site is published")
    cache: CacheSettings = Field(CacheSettings(), description="The action cache")
    execution: Execution = Field(Execution(), description="Where cacheable steps run: here "
                                 "or on a Dask cluster (doit executor=dask)")
    validation: Validation = Field(Validation(), description="How the checks of the "
                                   "published tree treat each kind of problem (broken links, "
                                   "missing index pages)")
    search: bool = Field(False, description="Build a Pagefind index per site module, rebuilt "
                         "only when its pages change, in pagefind/modules/<module>/ (needs pip "
                         "install 'pagefind[extended]'); templates include "
                         "/pagefind/pagefind-ui.js and /pagefind/federation.js and search "
                         "every module with new PagefindUI({element: '#search', "
                         "...window.fedbuildSearch})")
    redirects: list[Redirect] = Field([], description="URLs that moved: static redirect "
                                      "pages, public/_redirects (Netlify) and "
                                      "public/.federation/redirects.map (nginx)")
    fix: FixSettings = Field(FixSettings(), description="How doit fix=auto tries to fix a "
                             "failed step: attempts, and an optional language model")


class Source(_Model):
    """Where a module's files come from: this repository or a git repository."""

    repository: Repository = Field(description="'local' (this repository) or a git URL "
                                   "(https://, ssh://, git@host:path, file://)")
    path: RelPath = Field(".", description="The module's folder: in this repository, or in "
                          "the git repository")
    branch: Branch = Field("main", description="The branch of a git source")
    local_path: SourceBase | None = Field(None, description="Base folder of a local source, "
                                          "joined with path: relative to the manifest's "
                                          "folder, or absolute (the reference format's form; "
                                          "it may lie outside the repository, which fedbuild "
                                          "then only reads)")

    @property
    def is_local(self) -> bool:
        """True when the module lives in this repository."""
        return self.repository == "local"


class Overrides(_Model):
    """Values that win over the module's own module.json."""

    baseURL: BaseURL | None = Field(None, description="The site's base URL (default: the "
                                    "federation's baseURL + destination)")
    template: TemplateName | None = Field(None, description="A folder of the assets' "
                                          "templates/ (module.json: hugo_config.template)")
    theme: ThemeName | None = Field(None, description="A folder of the assets' themes/ "
                                    "(module.json: hugo_config.theme)")
    components: list[ComponentName] | None = Field(None, description="Folders of the "
                                                   "assets' components/, copied in order")
    title: ScriptText | None = Field(None, description="The site's title (module.json: "
                                    "site.title); passed to the build script, so it holds no "
                                    "shell metacharacters ($, `, ;, |, &, <, >, quotes, "
                                    "backslash, newline)")


class BuildOptions(_Model):
    """Per-module build options."""

    cache_enabled: bool = Field(True, description="Use the action cache")
    skip_on_error: bool = Field(False, description="A failure of this module does not fail "
                                "the run; its last good output is kept")
    build_timeout: int = Field(300, ge=30, le=3600, description="Seconds before the build's "
                               "whole process tree is killed")
    priority: int = Field(50, ge=0, le=100, description="Higher builds first")


Mode = Literal["development", "production", "test"]
MODES: tuple[str, ...] = get_args(Mode)
StepName = Annotated[str, AfterValidator(_step_name)]
# A long option a command accepts, as its --help spells it.
OptionName = Annotated[str, StringConstraints(pattern=r"^--[A-Za-z0-9][A-Za-z0-9-]*$")]


class SkipIf(_Model):
    """When a step is skipped: every condition given must hold (no code, only these)."""

    mode: list[Mode] | None = Field(None, description="Skip in these modes")
    mode_not: list[Mode] | None = Field(None, description="Skip in every mode but these")
    platform: list[Platform] | None = Field(None, description="Skip on these hosts")
    platform_not: list[Platform] | None = Field(None, description="Skip on every host but these")
    exists: RelPath | None = Field(None, description="Skip when this file exists (relative to "
                                   "the module)")
    missing: RelPath | None = Field(None, description="Skip when this file does not exist")


class NoTests(_Model):
    """How a test step's output shows that its runner found no test to run: then the step
    fails (`no tests`) unless its module says `allow_no_tests: true`."""

    lines: list[str] = Field([], description="Text that, in a line of the step's log, means "
                             "no test ran (ctest's 'No tests were found!!!')")
    count: str | None = Field(None, description="A regular expression whose one group is the "
                              "number of tests a part of the run ran (cargo's 'running (\\d+) "
                              "tests?'): no test ran when it matched and every match is 0")
    exit_code: int | None = Field(None, description="The runner's exit code for 'no tests "
                                  "collected' (pytest's 5)")

    @field_validator("count")
    @classmethod
    def _one_group(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                groups = re.compile(value, re.MULTILINE).groups
            except re.error as err:
                raise ValueError(f"{value!r} is not a regular expression: {err}") from None
            if groups != 1:
                raise ValueError(f"{value!r} must have exactly one group (the count)")
        return value


class Step(_Model):
    """One step of a toolchain (or a module's own): a command and what it reads and writes."""

    name: StepName
    description: str | None = Field(None, description="What `doit list` says of the step")
    argv: list[str] | None = Field(None, min_length=1, description="The command; {placeholders}"
                                   " are expanded, a list-valued one to several arguments")
    commands: list[list[str]] | None = Field(None, min_length=1, description="Several "
                                             "commands run in turn (instead of argv)")
    cwd: str = "{module_dir}"
    env: Env = {}
    inputs: list[str] | None = Field(None, description="Globs relative to the module (default: "
                                     "the toolchain's)")
    outputs: list[str] = Field([], description="Files or folders the step writes: relative to "
                               "the module's dist/<mode>/<module>/ folder unless a placeholder "
                               "makes them absolute")
    clean: list[str] = Field([], description="More that `doit clean` removes besides outputs "
                             "(e.g. node_modules); never a source")
    depends_on: list[StepName] = Field([], description="Steps of the same module that run first")
    exclusive: bool = Field(False, description="Never runs beside another step")
    skip_if: SkipIf | None = None
    retries: int = Field(0, ge=0, le=10)
    timeout: float = Field(600, gt=0, le=86400, description="Seconds before the step's whole "
                           "process tree is killed")
    default: bool = Field(True, description="Part of `doit` (the default tasks)")
    cache: bool = Field(True, description="Restore the outputs from the action cache instead "
                        "of running, when the same inputs were built before (false for steps "
                        "whose outputs hold machine-specific paths, or that act on the world)")
    always_run: bool = Field(False, description="Never up to date: runs every time it is asked "
                             "for (flashing a board, on-device tests)")
    lazy: bool = Field(False, description="Runs only for a task that will really run: when "
                       "every task needing it is restored from the cache, it is not needed "
                       "(npm's install); named on the command line, it always runs")
    no_tests: NoTests | None = Field(None, description="A test step: how its output shows "
                                     "that no test ran (then it fails, unless the module "
                                     "allows it)")
    fix: list[Annotated[list[str], Field(min_length=1)]] = Field(
        [], description="Deterministic fixers (argv lists run in turn) tried when the step "
        "fails and the run says fix=auto: in a scratch copy of the module, never the working "
        "tree; a fix that makes the step pass is kept as a patch")
    options: list[OptionName] | None = Field(None, description="The options its command "
                                             "accepts (the build.sh toolchain's build step: "
                                             "fedbuild passes no other; unset, it asks the "
                                             "build script's --help once per script digest)")

    @model_validator(mode="after")
    def _one_command_form(self) -> Step:
        if (self.argv is None) == (self.commands is None):
            raise ValueError(f"step {self.name!r} needs either argv or commands (not both)")
        return self

    @property
    def command_list(self) -> list[list[str]]:
        """The commands the step runs, in turn."""
        return [self.argv] if self.argv is not None else list(self.commands or [])


class StepOverride(_Model):
    """A module's change to one of its toolchain's steps, or a step of its own."""

    name: StepName = Field(description="The step: one of the toolchain's (build, test, "
                           "install, ...) to change it, or a new name")
    description: str | None = Field(None, description="What `doit list` says the step does")
    argv: list[str] | None = Field(None, min_length=1, description="The one command it runs "
                                   "(an argv list, placeholders allowed; never a shell)")
    commands: list[list[str]] | None = Field(None, min_length=1, description="Several "
                                             "commands, run in order (instead of argv)")
    cwd: str | None = Field(None, description="Where the commands run (default: the "
                            "module's folder)")
    env: Env | None = Field(None, description="Environment variables of its commands")
    inputs: list[str] | None = Field(None, description="Input globs, relative to the "
                                     "module ('!glob' leaves files out)")
    outputs: list[str] | None = Field(None, description="What it makes, relative to "
                                      "dist/<mode>/<module>/ unless a placeholder says")
    clean: list[str] | None = Field(None, description="What `doit clean` removes besides "
                                    "its outputs")
    depends_on: list[StepName] | None = Field(None, description="Steps of the module run "
                                              "before it")
    exclusive: bool | None = Field(None, description="Never runs beside another task")
    skip_if: SkipIf | None = Field(None, description="Conditions under which it is skipped")
    retries: int | None = Field(None, ge=0, le=10, description="Attempts after a failure")
    timeout: float | None = Field(None, gt=0, le=86400, description="Seconds before its "
                                  "commands are killed")
    default: bool | None = Field(None, description="Part of plain `doit`")
    cache: bool | None = Field(None, description="Whether its result may be stored in and "
                               "restored from the action cache")
    always_run: bool | None = Field(None, description="Runs on every `doit`, up to date or not")
    lazy: bool | None = Field(None, description="Runs only when a task needing it really runs")
    no_tests: NoTests | None = Field(None, description="How its runner says it found no "
                                     "test (exit code, lines)")
    fix: list[Annotated[list[str], Field(min_length=1)]] | None = Field(
        None, description="Fixers tried when it fails under fix=auto (argv lists run in turn "
        "in a scratch copy); [] turns the toolchain's off")


class Tool(_Model):
    """The program a toolchain runs: its version is part of every step's fingerprint."""

    command: str = Field(min_length=1, description="The executable (a {placeholder} allowed)")
    version: list[str] = Field(min_length=1, description="argv printing its version")
    install: str = Field(min_length=1, description="How to install it, said when it is missing")
    also: list[Annotated[list[str], Field(min_length=1)]] = Field(
        [], description="argvs printing the versions of other programs its steps run (the C "
        "and C++ compilers cmake calls): each first line joins the tool's version")
    line: Regex | None = Field(None, min_length=1, description="A regular expression: the "
                             "version is the first line of the output it matches (default: "
                             "the first line), for tools whose wrappers print a banner first")


class Toolchain(_Model):
    """A toolchain YAML file: default inputs, the tool and the steps of its modules."""

    description: str = ""
    tool: Tool | None = None
    inputs: list[str] = []
    skip_dirs: list[str] = Field([], description="Folders never read for inputs (outputs, "
                                 "vendored code)")
    env: Env = {}
    modes: dict[Mode, dict[str, str | list[str]]] = Field({}, description="Placeholder values "
                                                          "per mode")
    targets: Annotated[list[Chip] | None, BeforeValidator(_all_chips)] = Field(
        None, description="Firmware toolchains: the ESP32 chips it builds for (or `all`); "
        "its modules must name one as `target`")
    project_files: list[RelPath] = Field([], description="Files every module of this "
                                         "toolchain has at its root (e.g. CMakeLists.txt)")
    steps: list[Step] = []


class Artifact(_Model):
    """A declared output checked by verify:<module>."""

    path: str = Field(min_length=1, description="The file, relative to dist/<mode>/<module>/")
    max_bytes: Size | None = Field(None, description="Size budget (65536, '64K', '1.5MB')")


class MemoryBudget(_Model):
    """Firmware size budgets, checked by size:<module> against the link map."""

    flash: Size | None = Field(None, description="Bytes of flash the image may use (65536, "
                               "'64K' = 65536, '64KB' = 64000, '1.5M')")
    dram: Size | None = Field(None, description="Bytes of data RAM (.data, .bss)")
    iram: Size | None = Field(None, description="Bytes of instruction RAM")


class Module(_Model):
    """One entry of `modules`."""

    name: ModuleName = Field(description="Unique name: tasks are <step>:<name>")
    source: Source = Field(description="Where the module's files are")
    destination: Destination | None = Field(None, description="Where a site module is "
                                            "published, '/' or '/x/y/'")
    module_json: RelPath = Field("module.json", description="A site module's own config, "
                                 "relative to its folder (optional: none means an empty one)")
    css_path_prefix: PathPrefix = Field("", description="Where the links of a module built "
                                        "for the root point once published (default: its "
                                        "destination)")
    overrides: Overrides = Field(Overrides(), description="Values that win over the "
                                 "module's module.json")
    build_options: BuildOptions = Field(BuildOptions(), description="Caching, failure, "
                                        "timeout and priority of the module's build")
    merge_strategy: MergeStrategy = Field("overwrite", description="How the published site "
                                          "module meets files already at its destination")
    redirects: list[Redirect] | None = Field(None, description="A site module's moved "
                                             "URLs (as federation.redirects), e.g. its old "
                                             "destination to its new one")
    exclude: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None, description="Globs (relative to the site module's output; * crosses '/') of "
        "files not published: build leftovers, drafts. .hugo_build.lock never is")
    priority: int | None = Field(None, ge=0, le=100, description="Older place of "
                                 "build_options.priority")
    toolchain: ToolchainName = Field("build.sh", description="How the module builds: "
                                     "build.sh (a site) or a toolchain's steps")
    depends_on: list[ModuleName] = Field([], description="Modules built before this one")
    steps: list[StepOverride] = Field([], description="Changes to the toolchain's steps (by "
                                      "name) or steps of the module's own")
    inputs: list[RelPath] = Field([], description="Extra input globs, relative to the module")
    outputs: list[str | Artifact] = Field([], description="Artifacts verify:<module> checks, "
                                          "relative to dist/<mode>/<module>/")
    env: Env = Field({}, description="Environment variables of the module's commands "
                     "(placeholders allowed)")
    retries: int = Field(0, ge=0, le=10, description="Attempts after a failed build")
    platforms: list[Platform] = Field([], description="Build only on these platforms "
                                      "(empty: all)")
    target: Chip | None = Field(None, description="The ESP32 chip a firmware module is built "
                                "for (esp-idf and esp-baremetal toolchains)")
    budget: MemoryBudget | None = Field(None, description="Firmware size budgets that "
                                        "size:<module> enforces")
    allow_no_tests: bool = Field(False, description="A test step whose runner found no test "
                                 "passes instead of failing with `no tests`")
    tags: list[Tag] = Field([], description="Labels that select the module on the command "
                            "line: `doit select=tag:<tag>`")
    resources: dict[Tag, Annotated[float, Field(gt=0)]] = Field(
        {}, description="With `doit executor=dask`: what a worker must advertise to run the "
        "module's steps (`dask worker --resources \"qemu=1\"`): {\"qemu\": 1}")

    @property
    def site_destination(self) -> str:
        """A site module's destination (the loader ensures site modules have one)."""
        return self.destination or "/"

    @property
    def build_priority(self) -> int:
        """The effective priority, wherever the manifest put it."""
        return self.priority if self.priority is not None else self.build_options.priority


WorkspaceKind = Literal["npm", "pnpm", "cargo", "uv"]
WORKSPACE_KINDS: tuple[str, ...] = ("npm", "pnpm", "cargo", "uv")


class Manifest(_Model):
    """The whole modules.json."""

    schema_: str | None = Field(None, alias="$schema", description="The JSON Schema of "
                                "this file, for editors")
    federation: Federation = Field(description="The published federation as a whole")
    modules: list[Module] = Field([], min_length=1, description="The modules to build "
                                  "(absent: the workspaces `discover` finds, every kind by "
                                  "default); an entry here wins over a discovered module of "
                                  "the same name")
    discover: list[WorkspaceKind] | None = Field(None, description="Package-manager workspaces "
                                                 "whose packages become modules: npm, pnpm, "
                                                 "cargo, uv (default: all of them when "
                                                 "`modules` is absent, none otherwise)")

    @property
    def preserve_base_site(self) -> bool:
        """Whether files of the published tree that no module owns are kept."""
        return (self.federation.strategy == "preserve-base-site"
                or self.federation.build_settings.preserve_base_site)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class HugoConfig(_Lenient):
    """The `hugo_config` (or older `build`) object of a module's own module.json."""

    template: TemplateName | None = None
    theme: ThemeName | None = None
    components: list[ComponentName] | None = None


class SiteInfo(_Lenient):
    """The `site` object of a module's own module.json."""

    title: str | None = None
    baseURL: str | None = None


class ModuleConfig(_Lenient):
    """A module's own module.json: only the keys fedbuild reads; others pass through."""

    hugo_config: HugoConfig | None = None
    build: HugoConfig | None = None
    site: SiteInfo | None = None

    @property
    def hugo(self) -> HugoConfig:
        """The Hugo settings, from whichever key the file uses."""
        return self.hugo_config or self.build or HugoConfig()


def parse_manifest(text: str, file: str) -> Manifest:
    """Validate modules.json text; raise ManifestError with one line on any mistake."""
    return _validate(Manifest, _parse_json(text, file), file)


def parse_module_config(text: str, file: str) -> ModuleConfig:
    """Validate a module's own module.json text."""
    return _validate(ModuleConfig, _parse_json(text, file), file)


def parse_toolchain(data: Any, file: str, shipped: bool = False) -> Toolchain:
    """Validate a toolchain YAML document (already parsed); only fedbuild's own (`shipped`)
    may set FEDBUILD_* variables."""
    return _validate(Toolchain, data, file, {SHIPPED: shipped})


def json_schema() -> dict[str, Any]:
    """The JSON Schema of modules.json, for editors (written to modules.schema.json)."""
    schema = Manifest.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    # Editors offer the shipped toolchains' step names; a module's own step name stays valid.
    name = schema["$defs"]["StepOverride"]["properties"]["name"]
    name["anyOf"] = [{"enum": _shipped_step_names()},
                     {"type": "string", "description": "A step of the module's own"}]
    del name["type"]
    schema["title"] = "fedbuild modules.json"
    return schema


def _shipped_step_names() -> list[str]:
    """The step names of the shipped toolchains (read only when the schema is written)."""
    import yaml  # only here: loading a manifest never needs it

    folder = Path(__file__).resolve().parent.parent / "tasks" / "toolchains"
    return sorted({step["name"] for path in folder.glob("*.yaml")
                   for step in yaml.safe_load(path.read_text()).get("steps", [])})


def _parse_json(text: str, file: str) -> Any:
    check_depth(text, file)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ManifestError(file, f"line {err.lineno} column {err.colno}",
                            f"invalid JSON: {err.msg}") from None
    except ValueError:  # Python refuses to convert an integer of more than 4300 digits
        raise ManifestError(file, _line_of(text, _LONG_NUMBER.search(text)),
                            "invalid JSON: a number of more than 4300 digits") from None
    if _MAYBE_BAD_TEXT.search(text):  # else no string can hold NUL or a lone surrogate
        check_text(data, file)
    return data


_LONG_NUMBER = re.compile(r"\d{4300,}")
# Where a decoded JSON string could get NUL or a surrogate from: \u escapes (raw control
# characters are invalid JSON; UTF-8 text holds no surrogates), or text that came otherwise.
_MAYBE_BAD_TEXT = re.compile(r"\\u(?:0000|[dD][89a-fA-F])|[\x00\ud800-\udfff]")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# A JSON string (skipped: brackets inside it do not nest) or a bracket.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def check_depth(text: str, file: str) -> None:
    """Refuse JSON nested deeper than MAX_DEPTH, found without parsing it (the brackets
    left once strings are cut out, counted at C speed; the place found only for an error)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    brackets = _NOT_BRACKETS.sub("", _STRING.sub("", text))
    if max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0) <= MAX_DEPTH:
        return
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        bracket = token[0]
        if bracket in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ManifestError(file, _line_of(text, token), f"nested more than {MAX_DEPTH} "
                                    "levels deep; flatten it")
        elif bracket in "]}":
            depth -= 1


def _line_of(text: str, match: re.Match[str] | None) -> str:
    if match is None:
        return ""
    start = match.start()
    line = text.count("\n", 0, start) + 1
    return f"line {line} column {start - text.rfind(chr(10), 0, start)}"


def check_text(data: Any, file: str, where: tuple[Any, ...] = ()) -> None:
    """Refuse strings (values or keys) holding NUL or a lone surrogate: neither can reach a
    path, an argument or an environment variable, nor be printed."""
    if isinstance(data, str):
        _check_string(data, file, where)
    elif isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str):
                _check_string(key, file, where)
            check_text(value, file, (*where, key))
    elif isinstance(data, (list, tuple, set, frozenset)):
        for i, value in enumerate(data):
            check_text(value, file, (*where, i))


_BAD_TEXT = re.compile(r"[\x00\ud800-\udfff]")


def _check_string(value: str, file: str, where: tuple[Any, ...]) -> None:
    bad = _BAD_TEXT.search(value)
    if bad is None:
        return
    what = "a NUL character" if bad[0] == "\0" else f"a lone surrogate ({bad[0]!r})"
    raise ManifestError(file, json_path(where), f"{_quote(value)} holds {what}; "
                        "write text without it")


def _quote(value: Any, limit: int = 60) -> str:
    """A value as messages show it: repr, cut short when long."""
    shown = repr(value)
    return shown if len(shown) <= limit else f"{shown[:limit - 5]}...{shown[-2:]}"


def _validate(model: type[_M], data: Any, file: str,
              context: dict[str, Any] | None = None) -> _M:
    if not isinstance(data, dict):
        raise ManifestError(file, "", f"expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data, context=context)
    except ValidationError as err:
        errors = err.errors()
        # A misspelt field also shows up as the real one missing: name the typo.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        message = _describe(model, first)
        more = len([e for e in errors if e is not first and not _typo_twin(e, first, message)])
        if more:
            message += f" (and {more} more error{'s' if more > 1 else ''})"
        raise ManifestError(file, json_path(first["loc"]), message) from None


_M = Any  # a model class; kept loose so mypy accepts both _Model and _Lenient


def _typo_twin(error: Any, typo: Any, message: str) -> bool:
    """Whether `error` is the missing field that the misspelt one meant."""
    return (error["type"] == "missing" and error["loc"][:-1] == typo["loc"][:-1]
            and f"did you mean {error['loc'][-1]!r}" in message)


def json_path(loc: tuple[Any, ...]) -> str:
    """('modules', 1, 'destination') -> 'modules[1].destination'."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif not isinstance(part, str):  # a YAML key that is not text: a number, a date
            out += f"[{part!r}]"
        elif part.startswith("function-"):
            continue
        else:
            out += f".{part}" if out else part
    return out


def _describe(model: type[BaseModel], error: Any) -> str:
    kind, loc, value = error["type"], error["loc"], error.get("input")
    if kind == "extra_forbidden":
        valid = _fields_at(model, loc[:-1])
        close = _closest(str(loc[-1]), valid)
        if close:
            return f"unknown field; did you mean {close!r}?"
        return "unknown field; valid fields: " + ", ".join(valid)
    if kind == "missing":
        return "required field is missing"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "literal_error":
        return f"{value!r} is not valid; expected {error['ctx']['expected']}"
    return f"{error['msg']} (got {value!r})"


def _closest(name: str, valid: list[str]) -> str | None:
    """The valid name a typo most likely meant (case, '_' and '-' do not count)."""
    def norm(text: str) -> str:
        return text.lower().replace("_", "").replace("-", "")
    by_norm = {norm(v): v for v in valid}
    if norm(name) in by_norm:
        return by_norm[norm(name)]
    import difflib  # only for a mistake's suggestion

    close = difflib.get_close_matches(norm(name), list(by_norm), n=1, cutoff=0.6)
    return by_norm[close[0]] if close else None


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The valid field names of the object at `loc`, for suggestions."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None)
        if field is None:
            return []
        current = _model_in(field.annotation)
        if current is None:
            return []
    return [f.alias or name for name, f in current.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (list, Union, types.UnionType, Annotated):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def read_config(path: Path) -> tuple[str, str]:
    """A configuration file's text and the label its errors name it by."""
    label = display_path(path)
    try:
        return read_bounded(path, label), label
    except (OSError, UnicodeDecodeError) as err:
        raise unreadable(label, err) from None


def read_bounded(path: Path, label: str) -> str:
    """A regular file's UTF-8 text; a FIFO or a device is refused before it is read (it could
    block forever or never end), a file over MAX_FILE_BYTES before it is read whole."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ManifestError(label, "", "is not a regular file; make it one")
        data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ManifestError(label, "", f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; "
                            "a configuration file is a few kilobytes")
    return data.decode("utf-8")


def unreadable(label: str, err: OSError | UnicodeDecodeError) -> ManifestError:
    """The error for a file that could not be read, saying why without repeating its path."""
    if isinstance(err, UnicodeDecodeError):
        reason = f"not UTF-8 text (byte {err.start}: {err.reason})"
    else:
        reason = err.strerror or str(err)
    return ManifestError(label, "", f"cannot be read: {reason}")


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working folder when inside it
    (resolved, or as written when only that is: a symlink leading out is named itself)."""
    try:
        real, cwd = os.path.realpath(path), os.getcwd()  # getcwd: already without links
    except (ValueError, OSError):  # a NUL byte; a name too long; the working folder gone
        real = cwd = ""
    if real and (real == cwd or real.startswith(cwd.rstrip(os.sep) + os.sep)):
        return os.path.relpath(real, cwd)
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return absolute if relative.startswith("..") else relative
