"""The scoring service packaged as a Bento around one registered version.

`build` runs BentoML in a child process with a throwaway BENTOML_HOME and returns the exported
archive: the platform's own Bento store changes only when `install` loads a published archive
(write-audit-publish for side effects). The Bento holds serving/, the library, the model (the
torch.export archive with its feature names) and the Python requirements of `mlplatform[serving]`,
read from pyproject.toml, so it carries neither Dagster nor dbt nor Spark.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

BENTO = "fraud_scorer"
MODEL = "fraud_detector"  # the model's name in the Bento (as in the MLflow registry)
ROOT = Path(__file__).resolve().parent.parent  # the project: serving/ and mlplatform/ are packaged from here
BENTOFILE = ROOT / "serving" / "bentofile.yaml"


@dataclass(frozen=True)
class BuiltBento:
    tag: str  # fraud_scorer:v<model version>
    model_version: str
    archive: bytes
    sha256: str


def requirements(root: Path = ROOT) -> list[str]:
    """What a Bento installs: the library's dependencies and its [serving] extra."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["serving"]]


def build(tracking_uri: str, version: str, timeout: float = 600) -> BuiltBento:
    """The Bento of registered version `version`, exported as an archive (built in a child process)."""
    with tempfile.TemporaryDirectory(prefix="bento-build-") as folder:
        archive = Path(folder) / f"{BENTO}.bento"
        home = Path(folder) / "bentoml"
        _child(["--version", version, "--out", str(archive)], home, timeout, {"MLFLOW_TRACKING_URI": tracking_uri})
        data = archive.read_bytes()
    return BuiltBento(f"{BENTO}:v{version}", version, data, hashlib.sha256(data).hexdigest())


def install(archive: bytes, bentoml_home: Path, timeout: float = 300) -> str:
    """Loads a Bento archive into the Bento store at `bentoml_home` (nothing to do if it is there already)."""
    with tempfile.TemporaryDirectory(prefix="bento-install-") as folder:
        path = Path(folder) / f"{BENTO}.bento"
        path.write_bytes(archive)
        return _child(["--install", str(path)], bentoml_home, timeout).strip().splitlines()[-1]


def _child(args: list[str], bentoml_home: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    """This module run in a child process with its own BENTOML_HOME (BentoML reads it once, when imported)."""
    done = subprocess.run(
        [sys.executable, "-m", "mlplatform.bentos", *args],
        env={**os.environ, **(env or {}), "BENTOML_HOME": str(bentoml_home)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"BentoML ({' '.join(args[:1])}) failed: {done.stderr[-3000:]}")
    return done.stdout


def _build_here(version: str, out: Path) -> None:
    """In the child: the model into BentoML's model store, the Bento built around it, exported."""
    import bentoml
    import mlflow
    import yaml

    from mlplatform import telemetry
    from mlplatform.tracking import FEATURE_NAMES

    telemetry.off()
    uri = f"models:/{MODEL}/{version}"
    features = (mlflow.models.get_model_info(uri).metadata or {})[FEATURE_NAMES]
    downloaded = Path(mlflow.artifacts.download_artifacts(uri))
    metadata = {"mlflow_version": version, FEATURE_NAMES: list(features)}
    with bentoml.models.create(f"{MODEL}:v{version}", labels={"source": "mlflow"}, metadata=metadata) as model:
        shutil.copy(next(downloaded.rglob("model.pt2")), Path(model.path) / "model.pt2")
    config = yaml.safe_load(BENTOFILE.read_text())
    config["models"] = [str(model.tag)]
    config["python"] = {**config.get("python", {}), "packages": requirements()}
    bentofile = out.with_name("bentofile.yaml")
    bentofile.write_text(yaml.safe_dump(config, sort_keys=False))
    bento = bentoml.bentos.build_bentofile(
        str(bentofile), version=f"v{version}", labels={"model_version": version}, build_ctx=str(ROOT)
    )
    bentoml.export_bento(bento.tag, str(out))


def _install_here(path: Path) -> None:
    import bentoml

    try:
        print(bentoml.import_bento(str(path)).tag)
    except bentoml.exceptions.BentoMLException as error:
        if "already exists" not in str(error):
            raise
        print("already installed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Build or install the scoring service's Bento (see the docstring).")
    parser.add_argument("--version")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--install", type=Path)
    args = parser.parse_args()
    if args.install:
        _install_here(args.install)
    else:
        _build_here(args.version, args.out)
