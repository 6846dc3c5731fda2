"""Which module's file ends up at each path of the published tree: merge by destination.

Pure: it takes file lists and strategies and returns the tree's owners and the
collisions, so every rule here is a dictionary operation a unit test can check.

Modules are laid down from the shallowest destination to the deepest (manifest
order among equals), so a module at `/` can never delete or replace the folder
of a module mounted below it, wherever the manifest lists it. Each module's
`merge_strategy` says what happens to files already in its folder:

- overwrite: the folder becomes exactly the module's output (files that
  shallower modules put there are dropped);
- merge: the module's files win, the others stay;
- preserve: files already there win, the module only adds;
- error: any collision stops the publish, naming both owners and the path.

With `preserve-base-site`, files of the published tree that no module owns
(the base site) are laid down first and kept; where a module writes the same
path, its merge_strategy decides as for any file already there (overwrite and
merge replace it, preserve keeps it, error refuses).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

BASE = "(base site)"  # owner of files kept from the existing published tree
RECORDS_DIR = ".federation"  # reserved at the root of the published tree


@dataclass(frozen=True)
class Layer:
    """One module's files, relative to its destination."""

    module: str
    destination: str  # "/" or "/docs/"
    strategy: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class Collision:
    """Two owners wanted the same path (or a module's folder held another's file)."""

    path: str
    kept: str
    dropped: str
    reason: str

    def describe(self) -> str:
        """One line for the log and the records."""
        return f"{self.path}: {self.reason}"


class MergeConflict(Exception):
    """A collision that a module's merge_strategy 'error' forbids, or a reserved path."""


@dataclass
class Tree:
    """The published tree to assemble: path -> owner, and what collided on the way."""

    owners: dict[str, str] = field(default_factory=dict)
    collisions: list[Collision] = field(default_factory=list)


def compose(layers: Iterable[Layer], base: Iterable[str] = ()) -> Tree:
    """Lay the base files, then each module by depth; raise MergeConflict when one forbids it."""
    tree = Tree(owners=dict.fromkeys(base, BASE))
    ordered = sorted(enumerate(layers), key=lambda item: (_depth(item[1].destination), item[0]))
    strategies = {layer.module: layer.strategy for _, layer in ordered}
    for _, layer in ordered:
        _lay(tree, layer, strategies)
    _check_kinds(tree)
    return tree


def _check_kinds(tree: Tree) -> None:
    """A path cannot be a file for one owner and a folder for another."""
    folders: dict[str, str] = {}
    for path, owner in tree.owners.items():
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folders.setdefault("/".join(parts[:i]), owner)
    for path, owner in tree.owners.items():
        if path in folders:
            raise MergeConflict(f"{path} is a file of {_holder(owner)} but a folder of "
                                f"{_holder(folders[path])}; rename one of them")


def _holder(owner: str) -> str:
    return "the existing site" if owner == BASE else f"module {owner}"


def _lay(tree: Tree, layer: Layer, strategies: dict[str, str]) -> None:
    folder = layer.destination.strip("/")
    prefix = f"{folder}/" if folder else ""
    if layer.strategy == "overwrite":
        _clear(tree, layer, prefix, strategies)
    for rel in layer.files:
        path = prefix + rel
        if path.split("/", 1)[0] == RECORDS_DIR:
            raise MergeConflict(f"{layer.module} writes {path}, but {RECORDS_DIR}/ at the root "
                                "of the published tree is reserved for fedbuild's records")
        owner = tree.owners.get(path)
        if owner is None or owner == layer.module:
            tree.owners[path] = layer.module
            continue
        if "error" in (layer.strategy, strategies.get(owner)):
            raise MergeConflict(f"{path} is written by {_holder(owner)} and by module "
                                f"{layer.module}; "
                                f"merge_strategy 'error' forbids collisions")
        if layer.strategy == "preserve":
            tree.collisions.append(Collision(path, owner, layer.module,
                                             f"{owner}'s file kept, {layer.module}'s dropped "
                                             f"({layer.module} merges with 'preserve')"))
            continue
        if owner != BASE:
            tree.collisions.append(Collision(path, layer.module, owner,
                                             f"{layer.module}'s file replaces {owner}'s "
                                             f"({layer.module} merges with '{layer.strategy}')"))
        tree.owners[path] = layer.module


def _clear(tree: Tree, layer: Layer, prefix: str, strategies: dict[str, str]) -> None:
    """Drop shallower modules' files from the layer's folder (base files stay unless replaced)."""
    own = set(layer.files)
    for path, owner in list(tree.owners.items()):
        if owner in (BASE, layer.module) or not path.startswith(prefix):
            continue
        if path[len(prefix):] in own:
            continue  # the module writes this very path: a collision judged in _lay
        if strategies.get(owner) == "error":
            raise MergeConflict(f"{path} of module {owner} is inside the folder "
                                f"{layer.destination} that module {layer.module} overwrites; "
                                f"merge_strategy 'error' forbids collisions")
        tree.collisions.append(Collision(path, layer.module, owner,
                                         f"{owner}'s file is inside {layer.module}'s folder "
                                         f"{layer.destination} and was dropped "
                                         f"({layer.module} merges with 'overwrite')"))
        del tree.owners[path]


def _depth(destination: str) -> int:
    return len([s for s in destination.split("/") if s])
