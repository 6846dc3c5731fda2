"""One search across all modules (issue 22 item 7): with federation.search, each publish gives
every site module its own Pagefind bundle (the `pagefind` PyPI package ships the binary),
kept under the digest of its published pages, and merges them in the browser with Pagefind's
mergeIndex, on the pages fixture. The bundles are read back from their fragment files, and
searched for real: Pagefind's own pagefind.js under node, over HTTP, with the options
fedbuild publishes in pagefind/federation.json."""

from __future__ import annotations

import functools
import gzip
import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import run_doit
from tests.e2e.test_published_tree import edit_manifest, page, write

Repo = Callable[[str], Path]
NODE = shutil.which("node")
# Search the federation as a browser page would: fedbuild's options, Pagefind's own code.
QUERY = """
const [origin, term] = process.argv.slice(1);
const options = await (await fetch(`${origin}/pagefind/federation.json`)).json();
const pagefind = await import(`${process.env.PUBLIC}${options.bundlePath}pagefind.js`);
await pagefind.options({basePath: origin + options.bundlePath, baseUrl: options.baseUrl});
for (const merged of options.mergeIndex) {
  await pagefind.mergeIndex(origin + merged.bundlePath, {baseUrl: merged.baseUrl});
}
const found = await pagefind.search(term);
const urls = await Promise.all(found.results.map(async (r) => (await r.data()).url));
console.log(JSON.stringify(urls.sort()));
"""


def fragments(public: Path) -> dict[str, str]:
    """URL -> indexed text, from every bundle's fragment files (gzip, 'pagefind_dcd' + JSON)."""
    found = {}
    for path in public.glob("pagefind/modules/*/fragment/*"):
        data = json.loads(gzip.decompress(path.read_bytes()).removeprefix(b"pagefind_dcd"))
        found[data["url"]] = data["content"]
    return found


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """An HTTP server on loopback serving `folder`; its origin."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No request lines on the test's stderr."""


def search(public: Path, term: str) -> list[str]:
    """The URLs Pagefind's search finds for `term` across the federation."""
    assert NODE is not None
    with served(public) as origin:
        done = subprocess.run(
            [NODE, "--input-type=module", "-e", QUERY, origin, term], capture_output=True,
            text=True, timeout=60, check=False, env={"PUBLIC": public.as_uri(), "PATH": ""})
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def result(repo: Path) -> dict[str, object]:
    """The last federate's result.json."""
    return dict(json.loads((repo / ".fedbuild/federate/result.json").read_text()))


def kept(repo: Path) -> dict[str, set[str]]:
    """Module -> the keys of its bundles kept in the state folder."""
    folder = repo / ".fedbuild/federate/search"
    return {m.name: {e.name for e in m.iterdir() if e.is_dir()} for m in folder.iterdir()}


@pytest.mark.skipif(NODE is None, reason="node runs Pagefind's search code")
def test_each_module_indexed_once_and_searched_as_one(monorepo: Repo) -> None:
    repo = monorepo("pages")
    edit_manifest(repo, lambda d: d["federation"].update(search=True))
    write(repo, "docs", "guide/index.html", page("guide", "<p>Installing the quasar drive</p>"))
    write(repo, "shop", "index.html", page("shop", "<p>Buy a quasar lamp</p>"))
    write(repo, "home", "about.html", page("about", "<p>We love quasar maps</p>"))
    done = run_doit(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    public = repo / "public"
    pages = {"/", "/about.html", "/docs/", "/docs/guide/", "/products/shop/"}
    assert set(fragments(public)) == pages
    searched = result(repo)["search"]
    assert (searched["indexed"], searched["kept"]) == (["docs", "shop", "home"], [])  # type: ignore
    assert search(public, "quasar") == ["/about.html", "/docs/guide/", "/products/shop/"]
    assert (public / "pagefind/pagefind-ui.js").is_file()  # the UI a template includes
    assert "window.fedbuildSearch" in (public / "pagefind/federation.js").read_text()
    check = subprocess.run(["sha256sum", "--strict", "--quiet", "-c",
                            ".federation/checksums.sha256"], cwd=public, check=False)
    assert check.returncode == 0
    before = kept(repo)

    write(repo, "docs", "guide/index.html", page("guide", "<p>Calibrating the nebula</p>"))
    done = run_doit(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    searched = result(repo)["search"]
    assert (searched["indexed"], searched["kept"]) == (["docs"], ["shop", "home"])  # type: ignore
    after = kept(repo)
    assert after["shop"] == before["shop"] and after["home"] == before["home"]
    assert len(after["docs"]) == 1 and after["docs"] != before["docs"]  # the old one pruned
    assert "Pagefind index built for docs, kept for shop, home" in done.stdout
    assert search(public, "nebula") == ["/docs/guide/"]
    assert search(public, "quasar") == ["/about.html", "/products/shop/"]
    assert "nebula" in fragments(public)["/docs/guide/"]
