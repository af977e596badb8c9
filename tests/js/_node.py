"""The real JavaScript packages, installed once and driven through one Node process.

``install()`` puts ``@wlearn/core``, ``@wlearn/types``, ``@wlearn/mitra`` (the tarballs in
``../shared/js-reference``) and ``onnxruntime-node`` into a cache folder named after the
tarballs' hash, so later runs reuse it. ``Node`` runs ``bridge.js`` and exchanges one JSON line
per call with it (see the protocol at the top of ``bridge.js``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BRIDGE = HERE / "bridge.js"
NODE_MIN_MAJOR = 18
INSTALL_HINT = ("the JavaScript differential tests need Node.js (20 recommended, at least "
                f"{NODE_MIN_MAJOR}) and npm on PATH: on Debian/Ubuntu `apt-get install nodejs "
                "npm`")


class Unavailable(Exception):
    """Node, npm or the reference packages are missing: the layer is skipped (with why)."""


class JsError(Exception):
    """The JavaScript side threw: ``name`` is the JS error class, ``message`` its text."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name, self.message = name, message


def reference_dir() -> Path:
    return Path(os.environ.get("WLEARN_JS_REFERENCE")
                or REPO.parent / "shared" / "js-reference")


def _node_version() -> tuple[int, str]:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        raise Unavailable(f"node or npm not found; {INSTALL_HINT}")
    text = subprocess.run([node, "--version"], capture_output=True, text=True,
                          check=True).stdout.strip()
    return int(text.lstrip("v").split(".")[0]), text


def _cache_root() -> Path:
    configured = os.environ.get("WLEARN_JS_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if os.access(os.path.dirname(base) or ".", os.W_OK) or os.access(base, os.W_OK):
        return Path(base) / "wlearn-tests"
    return Path(tempfile.gettempdir()) / "wlearn-tests"


def install() -> Path:
    """The folder whose ``node_modules`` holds the reference packages, installing them there
    with npm unless an earlier run did (a marker file says the install finished)."""
    major, text = _node_version()
    if major < NODE_MIN_MAJOR:
        raise Unavailable(f"node {text} is too old; {INSTALL_HINT}")
    source = reference_dir()
    if not (source / "package.json").is_file():
        raise Unavailable(f"no JavaScript reference packages at {source} (set "
                          "WLEARN_JS_REFERENCE to the js-reference folder)")
    digest = hashlib.sha256()
    for path in sorted(source.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    target = _cache_root() / f"js-reference-{digest.hexdigest()[:16]}"
    marker = target / ".installed"
    if marker.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        for path in source.iterdir():
            if path.is_file():
                shutil.copyfile(path, work / path.name)  # the source is read-only
        # --ignore-scripts: onnxruntime-node's install script downloads CUDA binaries; the
        # CPU binding it needs ships inside the package.
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=work, capture_output=True, text=True, timeout=900)
        if done.returncode:
            raise RuntimeError(f"npm install of the JavaScript reference packages failed in "
                               f"{work}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        (work / ".installed").write_text("ok\n")
        try:
            os.rename(work, target)
        except OSError:  # another run finished first, or a stale partial folder is there
            if not marker.is_file():
                shutil.rmtree(target, ignore_errors=True)
                os.rename(work, target)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target


# --- values on the wire ------------------------------------------------------------------------

_SPECIAL = {"NaN", "Infinity", "-Infinity", "-0"}


def _tag(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "\0NaN"
        if math.isinf(value):
            return "\0Infinity" if value > 0 else "\0-Infinity"
        if value == 0 and math.copysign(1.0, value) < 0:
            return "\0-0"
        return value
    if isinstance(value, str):
        return "\0" + value if value.startswith("\0") else value
    if isinstance(value, dict):
        return {key: _tag(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tag(item) for item in value]
    if isinstance(value, np.generic):
        return _tag(value.item())
    return value


def to_wire(value: Any) -> str:
    """JSON text that ``fromWire`` in bridge.js turns back into exactly this value."""
    return json.dumps(_tag(value), ensure_ascii=True, allow_nan=False)


def _js_int(text: str) -> int | float:
    value = int(text)
    return value if abs(value) <= 2**53 else float(text)  # JavaScript holds a double


def js_loads(text: str) -> Any:
    """Parse JSON text as JavaScript's ``JSON.parse`` does (large integers become doubles)."""
    return json.loads(text, parse_int=_js_int)


def b64(data: Any) -> str:
    return base64.b64encode(memoryview(data).cast("B") if not isinstance(data, bytes)
                            else data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def f64(array: Any) -> str:
    return b64(np.ascontiguousarray(array, dtype="<f8").tobytes())


def matrix(X: Any) -> dict[str, Any]:
    X = np.asarray(X, dtype=np.float64)
    return {"data": f64(X), "rows": X.shape[0], "cols": X.shape[1]}


# --- the process ------------------------------------------------------------------------------

class Node:
    """One long-lived ``node bridge.js`` process; ``call`` is one request and its answer."""

    def __init__(self, install_dir: Path) -> None:
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            ["node", str(BRIDGE), str(install_dir)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr)
        self.calls = 0
        self.versions = self.call("ping")

    def call(self, op: str, **request: Any) -> Any:
        line = json.dumps({"op": op, **request}, ensure_ascii=True).encode() + b"\n"
        try:
            self._proc.stdin.write(line)
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline()
        except BrokenPipeError:
            answer = b""
        if not answer:
            self._stderr.seek(0)
            raise RuntimeError("the Node bridge stopped: "
                               + self._stderr.read().decode(errors="replace")[-4000:])
        self.calls += 1
        reply = json.loads(answer)
        if not reply["ok"]:
            raise JsError(reply["error"]["name"], reply["error"]["message"])
        return reply["result"]

    # Convenience wrappers for the codec.

    def encode_bundle(self, manifest: Any, artifacts: list[dict[str, Any]]) -> bytes:
        described, data = [], []
        for artifact in artifacts:
            described.append({k: v for k, v in artifact.items() if k != "data"})
            data.append(b64(artifact["data"]) if "data" in artifact else None)
        # A str is wire text already (lets a test send JSON too deep for Python's json).
        wire = manifest if isinstance(manifest, str) else to_wire(manifest)
        return unb64(self.call("encode", manifest=wire,
                               artifacts=to_wire(described), data=data)["bundle"])

    def encode_many(self, cases: list[tuple[Any, list[dict[str, Any]]]]) -> list[Any]:
        """``encodeBundle`` of each ``(manifest, artifacts)``: bytes, or the JS error text."""
        requests = []
        for manifest, artifacts in cases:
            described = [{k: v for k, v in a.items() if k != "data"} for a in artifacts]
            requests.append({"manifest": to_wire(manifest), "artifacts": to_wire(described),
                             "data": [b64(a["data"]) for a in artifacts]})
        out = self.call("encodeMany", cases=requests)["bundles"]
        return [unb64(x) if isinstance(x, str) else x["error"] for x in out]

    def decode_bundle(self, data: bytes, validate: bool = False) -> tuple[Any, Any, int]:
        out = self.call("decode", bundle=b64(data), validate=validate)
        return out["manifest"], json.loads(out["toc"]), out["region"]

    def encode_json(self, value: Any) -> bytes:
        return unb64(self.call("encodeJSON", value=to_wire(value))["bytes"])

    def stringify(self, numbers: np.ndarray) -> list[str]:
        return self.call("stringify", numbers=f64(numbers))["texts"]

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._stderr.close()
