"""Write a thin artifact notebook: header, one literal-only parameters cell, one library call, render.

usage: python tools/make_notebook.py <artifact_id> "<title>" "<what it reproduces>" [module:function]
The parameters cell is built from params/<artifact_id>.yaml so both stay in sync. The library call is
``avlib.report.comparison:run_comparison_table`` (the tables whose differences are all in their params file)
unless given (e.g. ``avlib.report.qualitative:run_xkd_fig02_distributions``). List the artifact in its method's
``params/index/<method>.yaml`` and run ``python -m avlib pipeline``."""

import sys
from pathlib import Path

import nbformat
import yaml

aid, title, what = sys.argv[1], sys.argv[2], sys.argv[3]
module, func = sys.argv[4].split(":") if len(sys.argv) > 4 else ("avlib.report.comparison", "run_comparison_table")
params = yaml.safe_load(Path(f"params/{aid}.yaml").read_text())
lines = [f"{k} = {v!r}" for k, v in params.items()]
nb = nbformat.v4.new_notebook()
nb.metadata = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}
nb.cells = [
    nbformat.v4.new_markdown_cell(
        f"# {title}\n\n{what}\n\nRun by `dvc repro` through papermill with "
        f"`params/{aid}.yaml`; open it in JupyterLab to explore (`./run.sh lab`)."
    ),
    nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": ["parameters"]}),
    nbformat.v4.new_code_cell(
        "from IPython.display import Markdown, display\n\n"
        f"from {module} import {func}\n\n"
        f"result = {func}(" + ", ".join(f"{k}={k}" for k in params) + ")"
    ),
    nbformat.v4.new_code_cell("display(Markdown(result.markdown))"),
    nbformat.v4.new_code_cell("result.figure"),
]
for i, c in enumerate(nb.cells):
    c["id"] = f"{aid[:40]}-{i}"
nbformat.write(nb, f"notebooks/{aid}.ipynb")
print(f"notebooks/{aid}.ipynb")
