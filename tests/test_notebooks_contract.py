"""Notebook contract: stripped, python3 kernelspec, exactly one literal-only `parameters` cell whose keys
cover the params file, no def/class, one avlib.report run_* call (its own or the generic ablation table); every
notebook is listed by an index, and every index entry has notebook + params."""

import ast
import json
from pathlib import Path

import pytest
import yaml

from avlib.pipeline import load_indexes

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = sorted(a for ix in load_indexes(ROOT) for a in ix.artifacts)


def test_index_lists_artifacts():
    assert ARTIFACTS, "params/index/*.yaml list no tables or figures"
    listed = set(ARTIFACTS) | _real_pages()
    assert {nb.stem for nb in (ROOT / "notebooks").glob("*.ipynb")} == listed, "a notebook no index lists"


def _real_pages() -> set:
    return {b["page"] for b in yaml.safe_load((ROOT / "real/index.yaml").read_text())["benchmarks"].values()}


@pytest.mark.parametrize("aid", ARTIFACTS)
def test_notebook_contract(aid):
    nb = json.loads((ROOT / "notebooks" / f"{aid}.ipynb").read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "notebook not stripped"
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one parameters cell"
    assert not any("injected-parameters" in c.get("metadata", {}).get("tags", []) for c in code)
    tree = ast.parse("".join(params[0]["source"]))
    names = set()
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, "parameters cell: assignments only"
        ast.literal_eval(node.value)  # literals only
        names.add(node.targets[0].id)
    keys = set(yaml.safe_load((ROOT / "params" / f"{aid}.yaml").read_text()))
    assert keys <= names, f"params/{aid}.yaml keys missing from the parameters cell: {keys - names}"
    body = "\n".join("".join(c["source"]) for c in code if c is not params[0])
    for node in ast.walk(ast.parse(body)):
        assert not isinstance(node, (ast.FunctionDef, ast.ClassDef)), "no def/class in notebooks"
    calls = {
        n.func.id
        for n in ast.walk(ast.parse(body))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id.startswith("run_")
    }
    assert calls in ({f"run_{aid}"}, {"run_comparison_table"}, {"run_sota_table"}, {"run_claims_page"}), (
        f"expected one avlib.report run_* call, got {calls}"
    )
    assert "from avlib.report." in body
    assert (ROOT / "params/reference").is_dir()
