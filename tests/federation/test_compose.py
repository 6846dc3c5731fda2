"""Composing the published tree: who owns each path under every merge_strategy."""

from __future__ import annotations

import pytest

from federation.compose import BASE, Collision, Layer, MergeConflict, Tree, compose


def layer(module: str, destination: str, strategy: str, *files: str) -> Layer:
    """One module's files, relative to its destination."""
    return Layer(module, destination, strategy, files)


def dropped(tree: Tree) -> list[tuple[str, str, str]]:
    """The collisions as (path, kept, dropped), in the order they happened."""
    return [(c.path, c.kept, c.dropped) for c in tree.collisions]


def test_modules_are_laid_under_their_destinations() -> None:
    """Each file lands at destination + relative path, owned by its module."""
    tree = compose([layer("root", "/", "merge", "index.html", "css/site.css"),
                    layer("docs", "/docs/", "merge", "index.html", "guide/index.html"),
                    layer("api", "/docs/api/", "merge", "index.html")])
    assert tree.owners == {"index.html": "root", "css/site.css": "root",
                           "docs/index.html": "docs", "docs/guide/index.html": "docs",
                           "docs/api/index.html": "api"}
    assert tree.collisions == []


def test_empty_input_gives_empty_tree() -> None:
    """No layers and no base: nothing to publish, nothing collided."""
    assert compose([]) == Tree()


def test_layers_and_base_may_be_any_iterable() -> None:
    """Generators are accepted for both arguments."""
    tree = compose((x for x in [layer("docs", "/docs/", "merge", "a.html")]),
                   (p for p in ["old.html"]))
    assert tree.owners == {"old.html": BASE, "docs/a.html": "docs"}


@pytest.mark.parametrize("strategy", ["overwrite", "merge", "preserve", "error"])
def test_root_listed_last_never_replaces_deeper_modules_files(strategy: str) -> None:
    """The root module is laid first wherever it is listed, so a deeper module keeps its files."""
    docs = layer("docs", "/docs/", "merge", "index.html", "only-docs.html")
    root = layer("root", "/", strategy, "index.html", "docs/extra.html")
    tree = compose([docs, root])
    assert tree.owners["docs/index.html"] == "docs"
    assert tree.owners["docs/only-docs.html"] == "docs"
    assert tree.owners["docs/extra.html"] == "root"  # merge: others' files stay
    assert tree.owners["index.html"] == "root"


def test_root_overwrite_listed_last_does_not_clear_deeper_folder() -> None:
    """'overwrite' at / clears only what was laid before it, never a deeper module's folder."""
    tree = compose([layer("docs", "/docs/", "preserve", "index.html"),
                    layer("blog", "/blog/", "overwrite", "index.html"),
                    layer("root", "/", "overwrite", "index.html")])
    assert tree.owners == {"docs/index.html": "docs", "blog/index.html": "blog",
                           "index.html": "root"}
    assert tree.collisions == []


def test_deeper_module_wins_over_root_file_in_its_folder_with_merge() -> None:
    """Root listed last writes docs/index.html: docs (merge) replaces it, and it is recorded."""
    tree = compose([layer("docs", "/docs/", "merge", "index.html"),
                    layer("root", "/", "overwrite", "index.html", "docs/index.html")])
    assert tree.owners == {"index.html": "root", "docs/index.html": "docs"}
    assert dropped(tree) == [("docs/index.html", "docs", "root")]
    assert "docs's file replaces root's" in tree.collisions[0].reason
    assert "'merge'" in tree.collisions[0].reason


def test_overwrite_drops_shallower_files_in_its_folder() -> None:
    """'overwrite' makes the folder exactly the module's output; siblings like docsy/ stay."""
    tree = compose([layer("root", "/", "merge", "index.html", "docs/old.html",
                          "docs/sub/older.html", "docs/index.html", "docsy/x.html", "docs.html"),
                    layer("docs", "/docs/", "overwrite", "index.html", "new.html")])
    assert tree.owners == {"index.html": "root", "docsy/x.html": "root", "docs.html": "root",
                           "docs/index.html": "docs", "docs/new.html": "docs"}
    assert sorted(dropped(tree)) == [("docs/index.html", "docs", "root"),
                                     ("docs/old.html", "docs", "root"),
                                     ("docs/sub/older.html", "docs", "root")]
    old = next(c for c in tree.collisions if c.path == "docs/old.html")
    assert old.reason == ("root's file is inside docs's folder /docs/ and was dropped "
                          "(docs merges with 'overwrite')")
    replaced = next(c for c in tree.collisions if c.path == "docs/index.html")
    assert replaced.reason == "docs's file replaces root's (docs merges with 'overwrite')"


def test_overwrite_between_modules_at_same_destination() -> None:
    """Two modules at one destination are laid in manifest order; overwrite clears the first."""
    tree = compose([layer("a", "/docs/", "merge", "index.html", "a.html"),
                    layer("b", "/docs/", "overwrite", "b.html")])
    assert tree.owners == {"docs/b.html": "b"}
    assert sorted(dropped(tree)) == [("docs/a.html", "b", "a"), ("docs/index.html", "b", "a")]


def test_merge_module_wins_others_stay() -> None:
    """'merge': the module's files replace colliding ones; the rest of the folder stays."""
    tree = compose([layer("root", "/", "merge", "docs/index.html", "docs/keep.html"),
                    layer("docs", "/docs/", "merge", "index.html", "new.html")])
    assert tree.owners == {"docs/index.html": "docs", "docs/keep.html": "root",
                           "docs/new.html": "docs"}
    assert tree.collisions == [Collision("docs/index.html", "docs", "root",
                                         "docs's file replaces root's (docs merges with 'merge')")]


def test_same_destination_merge_follows_manifest_order() -> None:
    """Among modules at one depth, the later one in the manifest is laid later and wins."""
    tree = compose([layer("a", "/docs/", "merge", "index.html"),
                    layer("b", "/docs/", "merge", "index.html")])
    assert tree.owners == {"docs/index.html": "b"}
    assert dropped(tree) == [("docs/index.html", "b", "a")]


def test_preserve_existing_files_win_module_only_adds() -> None:
    """'preserve': files already in the folder are kept, the module's colliding file dropped."""
    tree = compose([layer("root", "/", "merge", "docs/index.html", "docs/keep.html"),
                    layer("docs", "/docs/", "preserve", "index.html", "new.html")])
    assert tree.owners == {"docs/index.html": "root", "docs/keep.html": "root",
                           "docs/new.html": "docs"}
    assert tree.collisions == [Collision(
        "docs/index.html", "root", "docs",
        "root's file kept, docs's dropped (docs merges with 'preserve')")]


@pytest.mark.parametrize(("root_strategy", "docs_strategy"), [
    ("merge", "error"), ("error", "merge"), ("error", "preserve"), ("error", "error"),
    ("overwrite", "error"), ("error", "overwrite"),
])
def test_error_strategy_forbids_a_collision(root_strategy: str, docs_strategy: str) -> None:
    """A collision involving a module with 'error' raises, naming the path and both modules."""
    layers = [layer("docs", "/docs/", docs_strategy, "index.html"),
              layer("root", "/", root_strategy, "index.html", "docs/index.html")]
    with pytest.raises(MergeConflict) as info:
        compose(layers)
    message = str(info.value)
    assert message.startswith("docs/index.html is written by module root and by module docs")
    assert "merge_strategy 'error' forbids collisions" in message


def test_error_strategy_without_collision_is_fine() -> None:
    """'error' modules that do not collide compose normally."""
    tree = compose([layer("root", "/", "error", "index.html"),
                    layer("docs", "/docs/", "error", "index.html")])
    assert tree.owners == {"index.html": "root", "docs/index.html": "docs"}
    assert tree.collisions == []


def test_overwrite_of_folder_holding_error_module_file_raises() -> None:
    """'overwrite' dropping a file of an 'error' module is a conflict naming both and the path."""
    layers = [layer("root", "/", "error", "index.html", "docs/extra.html"),
              layer("docs", "/docs/", "overwrite", "index.html")]
    with pytest.raises(MergeConflict) as info:
        compose(layers)
    message = str(info.value)
    assert "docs/extra.html" in message
    assert "module root" in message and "module docs" in message
    assert "merge_strategy 'error' forbids collisions" in message


def test_base_files_are_laid_first_and_kept() -> None:
    """Files of the existing site stay, owned by the base, when no module writes their path."""
    tree = compose([layer("root", "/", "merge", "index.html"),
                    layer("docs", "/docs/", "overwrite", "index.html")],
                   base=["index.html", "favicon.ico", "old/page.html", "docs/legacy.html"])
    assert tree.owners == {"index.html": "root", "favicon.ico": BASE, "old/page.html": BASE,
                           "docs/legacy.html": BASE, "docs/index.html": "docs"}
    assert tree.collisions == []


@pytest.mark.parametrize("strategy", ["merge", "overwrite"])
def test_module_writing_a_base_path_replaces_it(strategy: str) -> None:
    """A module's file replaces the existing site's file at the same path."""
    tree = compose([layer("docs", "/docs/", strategy, "index.html", "a.html")],
                   base=["docs/index.html", "docs/b.html"])
    assert tree.owners == {"docs/index.html": "docs", "docs/a.html": "docs",
                           "docs/b.html": BASE}


def test_preserve_module_keeps_base_file() -> None:
    """'preserve' treats the existing site's file as already there: it is kept, and recorded."""
    tree = compose([layer("docs", "/docs/", "preserve", "index.html")],
                   base=["docs/index.html"])
    assert tree.owners == {"docs/index.html": BASE}
    assert dropped(tree) == [("docs/index.html", BASE, "docs")]


def test_error_module_colliding_with_base_names_the_existing_site() -> None:
    """An 'error' module writing a base path stops the publish, naming the existing site."""
    with pytest.raises(MergeConflict, match=r"^docs/index.html is written by the existing site "
                                            r"and by module docs"):
        compose([layer("docs", "/docs/", "error", "index.html")], base=["docs/index.html"])


@pytest.mark.parametrize(("destination", "rel"), [
    ("/", ".federation/deployment.json"),
    ("/", ".federation"),
    ("/.federation/", "index.html"),
])
def test_reserved_records_folder(destination: str, rel: str) -> None:
    """Nothing may be published into `.federation/` at the root of the tree."""
    with pytest.raises(MergeConflict, match=r"\.federation/ at the root of the published tree "
                                            r"is reserved"):
        compose([layer("m", destination, "merge", rel)])


def test_records_folder_name_is_allowed_below_the_root() -> None:
    """Only the root's `.federation/` is reserved: `docs/.federation/x` is an ordinary file."""
    tree = compose([layer("docs", "/docs/", "merge", ".federation/x", "index.html")])
    assert tree.owners == {"docs/.federation/x": "docs", "docs/index.html": "docs"}


def test_file_of_one_module_is_folder_of_another() -> None:
    """A path cannot be a file for the root module and the folder of the docs module."""
    with pytest.raises(MergeConflict) as info:
        compose([layer("root", "/", "merge", "index.html", "docs"),
                 layer("docs", "/docs/", "merge", "index.html")])
    assert str(info.value) == ("docs is a file of module root but a folder of module docs; "
                               "rename one of them")


def test_file_vs_folder_within_nested_paths() -> None:
    """A file `a/b` clashes with another module's `a/b/c/d.html` at any depth."""
    with pytest.raises(MergeConflict, match=r"^docs/a/b is a file of module docs but a folder "
                                            r"of module root"):
        compose([layer("root", "/", "merge", "docs/a/b/c/d.html"),
                 layer("docs", "/docs/", "merge", "a/b")])


def test_base_file_vs_module_folder() -> None:
    """A base file where a module needs a folder is a clash naming the existing site."""
    with pytest.raises(MergeConflict, match=r"^docs is a file of the existing site but a folder "
                                            r"of module docs"):
        compose([layer("docs", "/docs/", "merge", "index.html")], base=["docs"])


def test_collision_describe() -> None:
    """A collision reads as `path: reason`."""
    collision = Collision("docs/a.html", "docs", "root", "why")
    assert collision.describe() == "docs/a.html: why"
