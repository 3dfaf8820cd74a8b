"""The layer rules of docs/architecture.md, held against every module's imports."""
import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDER_LAYER = {"ir": "ir", "passes": "passes", "frontends": "frontends", "backends": "backends", "litesmith": "api"}
SKIP = {"schema_generated.py"}


def rules(root=ROOT):
    """layer -> layers it may import, from the table under '## Layer rules'."""
    text = open(os.path.join(root, "docs", "architecture.md"), encoding="utf-8").read()
    section = text.split("## Layer rules", 1)[1].split("\n## ", 1)[0]
    allowed = {}
    for row in re.findall(r"^\| (\w+) \| `(\w+)/` \|([^|\n]*)\|$", section, re.M):
        layer, _folder, may = row
        allowed[layer] = {m.strip() for m in may.split(",") if m.strip()}
    return allowed


def layer_of(module: str):
    parts = module.split(".")
    if parts[0] != "litesmith":
        return None
    return FOLDER_LAYER.get(parts[1], "api") if len(parts) > 1 else "api"


def imports(path: str, package: str):
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                yield node.lineno, ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.lineno, node.module or ""


def crossings(root=ROOT):
    allowed = rules(root)
    bad = []
    for folder, layer in FOLDER_LAYER.items():
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for f in files:
                if not f.endswith(".py") or f in SKIP:
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(dirpath, os.path.join(root, folder))
                package = ".".join(["litesmith"] + ([] if folder == "litesmith" else [folder])
                                   + ([] if rel == "." else rel.split(os.sep)))
                for line, module in imports(path, package):
                    to = layer_of(module)
                    if to is not None and to != layer and to not in allowed[layer]:
                        bad.append(f"{os.path.relpath(path, root)}:{line} {layer} -> {to} ({module})")
    return bad


def test_the_rules_table_is_read():
    allowed = rules()
    assert set(allowed) == set(FOLDER_LAYER.values())
    assert allowed["ir"] == set() and allowed["passes"] == {"ir"}


def test_no_module_crosses_a_layer():
    assert crossings() == []


def test_a_crossing_is_caught(tmp_path):
    """The checker itself: a passes module importing a backend is reported."""
    fake = tmp_path / "passes"
    fake.mkdir()
    (fake / "bad.py").write_text("def f():\n    from litesmith.backends.tflite import lower\n")
    for name in ("ir", "frontends", "backends", "litesmith"):
        (tmp_path / name).mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "architecture.md").write_text(open(os.path.join(ROOT, "docs", "architecture.md")).read())
    assert crossings(str(tmp_path)) == ["passes/bad.py:2 passes -> backends (litesmith.backends.tflite)"]
