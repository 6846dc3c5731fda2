"""A synthetic federation for bench/federate.py: M site modules of F realistic HTML pages.

Module m00 is published at `/`, the others at `/mNN/` but built for the root, so
their root links must be rewritten when federated. Pages are ~6 KB, link their
own pages and assets by root paths and other modules' pages; each module also
publishes a stylesheet and a few small binary files. The build script copies a
module's content folder to --output (no Hugo), so build time stays negligible.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASE_URL = "https://bench.example.org"
SCRIPT = "scripts/build.sh"
OUTPUT = "public"
# Besides its pages, every module publishes a stylesheet and these small binary files.
EXTRAS = {"img/logo.png": 2048, "img/x.png": 1024, "img/hero-480.jpg": 8192,
          "img/hero-960.jpg": 16384, "favicon.ico": 1150}
FILES_BESIDES_PAGES = len(EXTRAS) + 1  # + css/site.css
BUILD_SCRIPT = """\
#!/bin/sh
# Synthetic build script (bench/federate.py): fedbuild's build.sh argv, publishes content/ as is.
set -eu
output="" content=""
while [ $# -gt 0 ]; do
  case "$1" in
    --output) output=$2; shift 2 ;;
    --content) content=$2; shift 2 ;;
    --config|--base-url|--template|--theme|--components|--title) shift 2 ;;
    *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$output"
cp -R "$content/." "$output/"
if [ -n "${BENCH_RUNS:-}" ]; then echo "$output" >> "$BENCH_RUNS"; fi
"""

CSS = """\
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; background: url(/img/x.png) repeat-x; }
.logo { background-image: url("/img/logo.png"); width: 120px; height: 40px; }
""" + "".join(f".c{i} {{ margin: {i}px; padding: {i % 7}px; color: #{i * 37 % 4096:03x}; }}\n"
              for i in range(40))

_WORDS = ("federation", "module", "build", "publish", "static", "site", "page", "link", "theme",
          "template", "content", "deploy", "merge", "tree", "folder", "record", "digest",
          "output", "staging", "rename", "swap", "layout")


@dataclass(frozen=True)
class Site:
    """A generated federation: module m00 at `/`, the others at `/mNN/`, built for the root."""

    root: Path
    modules: tuple[str, ...]
    pages: int
    bytes: int

    @property
    def files_per_module(self) -> int:
        """Files one module publishes: its pages, its stylesheet and EXTRAS."""
        return self.pages + FILES_BESIDES_PAGES

    @property
    def files(self) -> int:
        """Files of the whole published tree."""
        return self.files_per_module * len(self.modules)

    def edit(self, round_: int) -> str:
        """Change one page of one module below the root (a different one each round)."""
        name = self.modules[1 + round_ % (len(self.modules) - 1)]
        page = self.root / "modules" / name / "content" / _section(name) / "p0001.html"
        text = page.read_text(encoding="utf-8")
        page.write_text(text.replace("</main>", f"<p>Edited in round {round_}.</p></main>", 1),
                        encoding="utf-8")
        return name


def generate(root: Path, modules: int, pages: int, search: bool = False) -> Site:
    """Write the monorepo: `modules` modules of `pages` HTML pages each, plus assets;
    `search` turns on the federation's Pagefind index."""
    if modules < 2 or pages < 2:
        raise ValueError("a federation benchmark needs at least 2 modules of 2 pages")
    names = tuple(f"m{i:02d}" for i in range(modules))
    paragraphs = _paragraphs(random.Random(0))
    size = sum(_write_module(root, i, names, pages, paragraphs) for i in range(modules))
    script = root / SCRIPT
    script.parent.mkdir(parents=True)
    script.write_text(BUILD_SCRIPT, encoding="utf-8")
    script.chmod(0o755)
    manifest = _manifest(names)
    manifest["federation"]["search"] = search
    (root / "modules.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return Site(root, names, pages, size)


def _manifest(names: tuple[str, ...]) -> dict[str, Any]:
    """modules.json: m00 at the root; the others published below it but built for the root."""
    modules = [{"name": name, "source": {"repository": "local", "path": f"modules/{name}"},
                "destination": "/" if i == 0 else f"/{name}/"} for i, name in enumerate(names)]
    for module in modules[1:]:
        module["overrides"] = {"baseURL": BASE_URL + "/"}  # so their root links get rewritten
    return {"federation": {"name": "federate benchmark", "baseURL": BASE_URL,
                           "build_script": SCRIPT, "output_dir": OUTPUT}, "modules": modules}


def _section(name: str) -> str:
    """The folder of a module's pages; the root module's differs, so links to it are unique."""
    return "blog" if name == "m00" else "docs"


def _write_module(root: Path, index: int, names: tuple[str, ...], pages: int,
                  paragraphs: list[str]) -> int:
    """Write one module's module.json and content; return the bytes of its content."""
    name, rng = names[index], random.Random(index)
    folder = root / "modules" / name
    content = folder / "content"
    (content / _section(name)).mkdir(parents=True)
    (folder / "module.json").write_text(json.dumps({"name": name}) + "\n", encoding="utf-8")
    files = {"index.html": _page(name, 0, names, pages, rng, paragraphs).encode(),
             "css/site.css": CSS.encode()}
    for n in range(1, pages):
        files[f"{_section(name)}/p{n:04d}.html"] = _page(name, n, names, pages, rng,
                                                          paragraphs).encode()
    files.update({path: b"\x89PNG\r\n\x1a\n" + rng.randbytes(size)
                  for path, size in EXTRAS.items()})
    for rel, data in files.items():
        (content / rel).parent.mkdir(parents=True, exist_ok=True)
        (content / rel).write_bytes(data)
    return sum(len(data) for data in files.values())


def _page(name: str, n: int, names: tuple[str, ...], pages: int, rng: random.Random,
          paragraphs: list[str]) -> str:
    """A ~6 KB page linking its own pages and assets by root paths, and other modules' pages."""
    own = f"/{_section(name)}/p{{:04d}}.html"
    near = [own.format(max(1, n - 1)), own.format(min(pages - 1, n + 1))]
    near += [own.format(rng.randrange(1, pages)) for _ in range(6)]
    others = [other for other in names if other != name]
    cross = []
    for other in rng.sample(others, min(3, len(others))):
        at = "" if other == "m00" else f"/{other}"
        cross.append(f"{at}/{_section(other)}/p{rng.randrange(1, pages):04d}.html")
    nav = "".join(f'<li><a href="{url}">page {i}</a></li>' for i, url in enumerate(near))
    see = "".join(f'<li><a href="{url}">elsewhere {i}</a></li>' for i, url in enumerate(cross))
    body = "\n".join(f"<p>{text}</p>" for text in rng.sample(paragraphs, 6))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{name} page {n}</title>
<link rel="stylesheet" href="/css/site.css"><link rel="icon" href="/favicon.ico">
<style>.hero {{ background: url(/img/x.png) no-repeat; }}</style></head>
<body><header><a href="/"><img class="logo" src="/img/logo.png" alt="{name}"></a></header>
<nav><ul>{nav}</ul></nav>
<main id="top"><h1>{name} page {n}</h1>
<img class="hero" src="/img/hero-480.jpg" srcset="/img/hero-480.jpg 480w, /img/hero-960.jpg 960w"
 sizes="(max-width: 600px) 480px, 960px" alt="">
{body}
<aside><ul>{see}</ul></aside>
<p><a href="#top">top</a> <a href="https://example.com/elsewhere">external</a></p></main>
</body></html>
"""


def _paragraphs(rng: random.Random) -> list[str]:
    """A pool of ~900-character paragraphs (drawing words per page would dominate generation)."""
    return [" ".join(rng.choice(_WORDS) for _ in range(120)).capitalize() + "."
            for _ in range(64)]
