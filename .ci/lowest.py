"""Print pip constraints pinning each of pyproject.toml's dependencies to its lower bound
(`>=X` becomes `==X`), for testing the oldest releases the ranges admit. torch is left out:
CI installs the local CPU build first. Usage: python .ci/lowest.py > lowest.txt"""

import re
import tomllib
from pathlib import Path

LEFT_OUT = {"torch"}

project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
for requirement in project["dependencies"]:
    name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
    floor = re.search(r">=\s*([^,;\s]+)", requirement)
    if floor and name.lower() not in LEFT_OUT:
        print(f"{name}=={floor.group(1)}")
