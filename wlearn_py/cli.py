"""The ``wlearn`` command: ``wlearn inspect FILE [--json]`` and ``wlearn validate FILE [--open]``.

Both answer what :func:`wlearn.load` would do with the file, through the same steps: the
core's reading policy (:func:`wlearn.reading.read_bundle`), the loader of the typeId, and the
loader's ``describe`` hook (:func:`wlearn.registry.describe`), which checks the bundle's
contents and says which model it needs and whether it is at hand, by hash. Neither command
opens or runs a model unless asked: ``validate --open`` calls :func:`wlearn.load` itself,
then the loaded model's ``open()`` when it has one (a loader may leave its model closed until
first use, as wlearn-mitra's do).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Any

from wlrn import _json
from wlrn.bundle import (_HEADER, BUNDLE_MAGIC, BUNDLE_VERSION, HEADER_SIZE, decode_bundle,
                         read_input)

from .errors import WlearnError
from .reading import read_bundle
from .registry import describe, describe_loader, install_hint, load


def _visible(text: str) -> str:
    """``text`` with every character that is not printable (line breaks, carriage returns,
    terminal escape sequences, bidirectional overrides) written as its Python escape, so
    that a bundle's strings can neither break a line nor drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _write(stream: Any, text: str) -> None:
    # Bundle text may hold any character (lone surrogates included); never crash on output,
    # and never pass a control character to the terminal (the lines are ours, see _visible).
    encoding = getattr(stream, "encoding", None) or "utf-8"
    text = "\n".join(map(_visible, text.split("\n")))
    stream.write(text.encode(encoding, "backslashreplace").decode(encoding) + "\n")


def _fail(command: str, path: str, reason: str) -> int:
    _write(sys.stderr, f"wlearn {command}: {path}: {_visible(reason)}")
    return 1


def _shallow(value: Any, depth: int = 0) -> Any:
    """``value`` with containers below 64 levels summarised, so printing never recurses
    without bound (JavaScript writes manifests some 2,500 levels deep)."""
    if isinstance(value, (dict, list)) and depth >= 64:
        return f"<{'object' if isinstance(value, dict) else 'array'} nested deeper>"
    if isinstance(value, dict):
        return {k: _shallow(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_shallow(v, depth + 1) for v in value]
    return value


def _report(path: str, strict: bool = False) -> dict[str, Any]:
    manifest, toc, blobs = decode_bundle(path, strict=strict)
    artifacts = []
    for entry in toc:
        start = entry["offset"]
        actual = hashlib.sha256(blobs.region[start:start + entry["length"]]).hexdigest()
        artifacts.append({
            "id": entry["id"], "offset": entry["offset"], "length": entry["length"],
            "mediaType": entry.get("mediaType"), "sha256": entry["sha256"],
            "sha256Ok": actual == entry["sha256"],
        })
    type_id = manifest.get("typeId")
    loader = describe_loader(type_id) if isinstance(type_id, str) and "@" in type_id else None
    _, described, problems = _verdict(path, strict)
    return {
        "file": path, "size": os.path.getsize(path), "typeId": type_id, "loader": loader,
        "model": described["model"], "notes": described["notes"],
        "manifest": _shallow(manifest), "artifacts": _shallow(artifacts),
        "unusual": list(blobs.unusual), "ok": all(a["sha256Ok"] for a in artifacts),
        "loadable": not problems, "problems": problems,
    }


def _readable(path: str) -> dict[str, Any]:
    """What ``inspect`` still shows of a file that does not decode: the header of a ``.wlrn``
    file (its magic right), then its manifest and TOC as far as each lies whole in the file
    and parses. Empty when the file cannot be read or is no bundle."""
    try:
        buf = read_input(path)
    except WlearnError:
        return {}
    if buf.nbytes < HEADER_SIZE or bytes(buf[:4]) != BUNDLE_MAGIC:
        return {}
    _, version, manifest_length, toc_length = _HEADER.unpack_from(buf)  # the codec's layout
    found: dict[str, Any] = {"size": buf.nbytes, "header": {
        "version": version, "manifestLength": manifest_length, "tocLength": toc_length}}
    start = HEADER_SIZE
    for key, length in (("manifest", manifest_length), ("toc", toc_length)):
        if version != BUNDLE_VERSION or start + length > buf.nbytes:
            break
        try:
            found[key] = _shallow(_json.parse_json(buf[start:start + length], key,
                                                   max_depth=None)[0])
        except WlearnError:
            break
        start += length
    if "toc" in found:
        found["blobRegion"] = buf.nbytes - start
    return found


def _verdict(path: str, strict: bool = False, open_model: bool = False
             ) -> tuple[Any, dict[str, Any], list[str]]:
    """``(parts, described, problems)``: the bundle as :func:`wlearn.load` reads it (None if
    it cannot); what its loader's ``describe`` hook says (``model``: the model it needs, None
    when the loader has no hook or none is reached; ``notes``: lines to show); and why
    :func:`wlearn.load` would refuse the file (empty: it would load it). The model is opened
    only with ``open_model``."""
    parts = None
    nothing: dict[str, Any] = {"model": None, "notes": []}
    try:
        parts = read_bundle(path, strict=strict)
        problem = _type_id_problem(parts[0].get("typeId"))
        if problem:
            return parts, nothing, [problem]
        described = describe(*parts)
    except WlearnError as exc:
        return parts, nothing, [str(exc)]
    model = described.get("model")
    notes = described.get("notes", ())
    notes = [str(n) for n in notes] if isinstance(notes, (list, tuple)) else []
    problems = [str(p) for p in described.get("problems", ())]
    if open_model and not problems:
        try:
            model_object = load(path)
            # a loader may leave its model closed until first use; open() opens it now
            opener = getattr(model_object, "open", None)
            if callable(opener):
                opener()
        except Exception as exc:  # whatever a plugin raises is reported, not a traceback
            problems.append(str(exc) if isinstance(exc, WlearnError)
                            else f"{type(exc).__name__}: {exc}")
    return parts, {"model": dict(model) if isinstance(model, dict) else None,
                   "notes": notes}, problems


def _show_model(model: dict[str, Any] | None, loadable: bool = True) -> str:
    """The model line: what the bundle needs, and what load would find. A model found with
    another hash than the bundle records (the describe hook's ``sourceSha256``) is named as
    such, with the load's verdict, never as the one load would take."""
    if model is None:
        return "(the loader does not say)"
    sha = model.get("sha256")
    name = model.get("name")
    needed = name or (f"the ONNX model of sha256 {sha}" if sha else "any (no hash recorded)")
    if name and sha:
        needed += f", sha256 {sha}"
    source = model.get("source")
    if not source:
        return needed
    found = model.get("sourceSha256")
    if sha and isinstance(found, str) and found != sha:
        what = model.get("sourceName") or "the model"
        verdict = "load would refuse it" if not loadable else "load would take it anyway"
        return (f"{needed}; found {what} at {source}, which has another sha256, {found}: "
                f"{verdict}")
    return needed + f"; load would take {source}"


def _show_id(artifact_id: Any) -> str:
    if isinstance(artifact_id, str) and artifact_id and artifact_id.isprintable() and artifact_id.strip() == artifact_id:
        return artifact_id
    return json.dumps(artifact_id)  # quoted, with escapes, when it would not be visible


def _show_media(media_type: Any) -> str:
    if media_type is None:
        return "-"
    return _visible(media_type) if isinstance(media_type, str) else json.dumps(media_type)


def _show_type_id(type_id: Any) -> str:
    if type_id is None:
        return "(missing)"
    return _visible(type_id) if isinstance(type_id, str) else json.dumps(type_id)


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                             for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
            for row in rows]


def _human(report: dict[str, Any]) -> str:
    type_id = report["typeId"]
    if report["loader"]:
        loader = report["loader"]
    elif isinstance(type_id, str) and "@" in type_id:
        loader = f"none installed. {install_hint(type_id)}"
    else:
        loader = "none (the manifest has no valid typeId)"
    artifacts = report["artifacts"]
    total = sum(a["length"] for a in artifacts)
    lines = [
        f"file      {report['file']} ({report['size']:,} bytes)",
        f"typeId    {_show_type_id(type_id)}",
        f"loader    {_visible(loader)}",
        f"model     {_show_model(report['model'], report['loadable'])}",
        "manifest",
        *("  " + line for line in json.dumps(report["manifest"], indent=2,
                                             ensure_ascii=False).splitlines()),
        f"artifacts {len(artifacts)}, {total:,} bytes",
    ]
    if artifacts:
        rows = [["id", "offset", "length", "mediaType", "sha256", "hash"]]
        rows += [[_show_id(a["id"]), f"{a['offset']:,}",
                  f"{a['length']:,}", _show_media(a["mediaType"]), a["sha256"][:16] + "…",
                  "ok" if a["sha256Ok"] else "MISMATCH"] for a in artifacts]
        lines += _table(rows, right={1, 2})
    bad = [a["id"] for a in artifacts if not a["sha256Ok"]]
    lines.append(f"hashes    {'all ok' if not bad else f'{len(bad)} MISMATCHED'}")
    lines += [f"unusual   {_visible(note)}" for note in report["unusual"]]
    lines += [f"note      {_visible(note)}" for note in report["notes"]]
    lines.append("loadable  " + ("yes" if report["loadable"] else "no"))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if type(value) is int:
        return f"{value:,}"
    return value if isinstance(value, str) and value.isprintable() else json.dumps(value)[:40]


def _human_readable(path: str, found: dict[str, Any]) -> str:
    """What :func:`_readable` found, for a file that does not decode."""
    header = found["header"]
    lines = [f"file      {path} ({found['size']:,} bytes)",
             f"header    version {header['version']}, manifest {header['manifestLength']:,} "
             f"bytes, TOC {header['tocLength']:,} bytes"]
    manifest = found.get("manifest")
    if manifest is None:
        return "\n".join(lines + ["manifest  (unreadable)"])
    type_id = manifest.get("typeId") if isinstance(manifest, dict) else None
    lines += [f"typeId    {_show_type_id(type_id)}", "manifest",
              *("  " + line for line in json.dumps(manifest, indent=2,
                                                   ensure_ascii=False).splitlines())]
    toc = found.get("toc")
    if not isinstance(toc, list):
        return "\n".join(lines + ["TOC       " + ("(unreadable)" if toc is None
                                                   else "(not an array)")])
    lines.append(f"artifacts {len(toc)} listed in the TOC")
    if toc:
        region = found["blobRegion"]
        rows = [["id", "offset", "length", "mediaType", "sha256", "bytes"]]
        for entry in toc:
            entry = entry if isinstance(entry, dict) else {"id": entry}
            offset, length = entry.get("offset"), entry.get("length")
            placed = type(offset) is int and type(length) is int
            sha = entry.get("sha256")
            rows.append([_show_id(entry.get("id")), _cell(offset), _cell(length),
                         _show_media(entry.get("mediaType")),
                         sha[:16] + "…" if isinstance(sha, str) else _cell(sha),
                         ("in the file" if offset + length <= region else "MISSING")
                         if placed else "?"])
        lines += _table(rows, right={1, 2})
    return "\n".join(lines)


#: Both commands exit 1, with the reasons on stderr, for a bundle wlearn.load would refuse;
#: ``inspect`` first prints whatever it could read.
EXIT_RULE = ("Exit status 0 if wlearn.load would load the bundle: well formed (as wlearn.load "
             "reads it), every artifact matching its SHA-256, a valid typeId with an "
             "installed loader that accepts the bundle's contents, and the model the bundle "
             "needs at hand (judged by hash, not opened); otherwise 1, with the reasons on "
             "stderr.")


def _type_id_problem(type_id: Any) -> str | None:
    if isinstance(type_id, str) and "@" in type_id:
        return None
    return "manifest has no valid typeId (a string such as 'wlearn.mitra_onnx.classifier@1')"


def _inspect(args: argparse.Namespace) -> int:
    try:
        report = _report(args.file, args.strict)
    except WlearnError as exc:
        found = _readable(args.file)  # first what could be read, then the error
        if args.json:  # a script parsing --json gets a report for every file, broken or not
            _write(sys.stdout, json.dumps({"file": args.file, **found, "ok": False,
                                           "loadable": False, "problems": [str(exc)]},
                                          indent=2, ensure_ascii=True))
        elif found:
            _write(sys.stdout, _human_readable(args.file, found))
        return _fail("inspect", args.file, str(exc))
    if args.json:
        _write(sys.stdout, json.dumps(report, indent=2, ensure_ascii=True))
    else:
        _write(sys.stdout, _human(report))
    if report["problems"]:
        return _fail("inspect", args.file, "; ".join(report["problems"]))
    return 0


def _validate(args: argparse.Namespace) -> int:
    parts, described, problems = _verdict(args.file, args.strict, open_model=args.open)
    if parts is None:
        return _fail("validate", args.file, "; ".join(problems))
    manifest, toc, blobs = parts
    for note in blobs.unusual:
        _write(sys.stdout, f"unusual  {args.file}: {_visible(note)}")
    if problems:
        return _fail("validate", args.file, "; ".join(problems))
    type_id = manifest.get("typeId")
    _write(sys.stdout, f"ok  {args.file}: {_show_type_id(type_id)}, {len(toc)} artifact"
                       f"{'' if len(toc) == 1 else 's'}, all SHA-256 hashes match; model: "
                       f"{_show_model(described['model'])}{' (opened)' if args.open else ''}")
    for note in described["notes"]:
        _write(sys.stdout, f"note  {args.file}: {_visible(note)}")
    return 0


_STRICT_HELP = ("refuse what @wlearn/core writes but wlearn never does (JSON over 16 MiB or "
                "nested over 256 levels, repeated or non-string artifact ids, non-string "
                "mediaTypes) instead of reading it and listing it as unusual")


def _version() -> str:
    from . import __version__

    try:
        import wlrn

        codec = f" (codec wlrn {wlrn.__version__})"
    except ImportError:
        codec = ""
    return f"wlearn {__version__}{codec}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wlearn", description="Inspect and validate .wlrn "
                                     "model bundles.")
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inspect = commands.add_parser("inspect", help="show typeId, loader, model, manifest and artifacts",
                                  description="Show a bundle's typeId, loader, the model it "
                                  "needs, manifest and artifacts with their sizes and hash "
                                  "status. " + EXIT_RULE)
    inspect.add_argument("file", help="a .wlrn bundle")
    inspect.add_argument("--json", action="store_true", help="print JSON for machines")
    inspect.add_argument("--strict", action="store_true", help=_STRICT_HELP)
    inspect.set_defaults(run=_inspect)
    validate = commands.add_parser("validate", help="check that wlearn.load would load it",
                                   description="Check what wlearn.load would: the bundle's "
                                   "structure, every SHA-256, its loader and the loader's "
                                   "checks, and that the model it needs is at hand. "
                                   + EXIT_RULE)
    validate.add_argument("file", help="a .wlrn bundle")
    validate.add_argument("--strict", action="store_true", help=_STRICT_HELP)
    validate.add_argument("--open", action="store_true",
                          help="also load it with wlearn.load and open its model (its open(), when it "
                               "has one; slower)")
    validate.set_defaults(run=_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
