"""Workload sets on disk: one .npz per set plus manifest.json, byte-for-byte reproducible.

The .npz is written with fixed zip timestamps so that the same spec and seed give the same
bytes; the manifest records generator arguments, seeds, shapes and a content hash per set.

The output folder may hold other files: they are left alone. A file of the name of a set
or `manifest.json` is replaced only when an earlier run wrote it (the manifest there lists
it); otherwise writing stops with an error naming it. Files are replaced one by one
(written to a temporary name, then renamed) while the folder is locked, so concurrent runs
into one folder take turns and all succeed.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import zipfile

import numpy as np

from adrs_spec.errors import InputError
from adrs_spec.files import locked_folder, replace_files
from adrs_spec.workloads.build import Group, WorkloadSet

MANIFEST = "manifest.json"

_EPOCH = (1980, 1, 1, 0, 0, 0)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(key + ".npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def write_sets(sets: list[WorkloadSet], out_dir: str, spec_name: str, spec_sha256: str, seed: int) -> dict:
    """Write every set to OUT/<set>.npz and OUT/manifest.json (the manifest last), each file
    atomically, beside whatever else OUT holds; see the module docstring."""
    files: dict[str, bytes] = {}
    manifest = {"spec": spec_name, "spec_sha256": spec_sha256, "seed": seed, "sets": []}
    for s in sets:
        arrays = {f"g{i}.{name}": arr for i, g in enumerate(s.groups) for name, arr in g.fields.items()}
        data = _npz_bytes(arrays)
        files[f"{s.name}.npz"] = data
        manifest["sets"].append({
            "name": s.name, "kind": s.kind, "description": s.description, "instances": s.size,
            "file": f"{s.name}.npz", "sha256": hashlib.sha256(data).hexdigest(),
            "groups": [{"params": _jsonable(g.params), "instances": g.size, "cases": g.cases, "labels": g.labels,
                        "shapes": {n: list(a.shape[1:]) for n, a in sorted(g.fields.items())},
                        "generator_args": _jsonable(g.generator_args)} for g in s.groups],
        })
    files[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    with locked_folder(out_dir):
        ours = _written_before(out_dir)
        for name in files:
            if os.path.lexists(os.path.join(out_dir, name)) and name not in ours:
                raise InputError(f"{os.path.join(out_dir, name)} exists and was not written by `adrs-spec workloads`; "
                                 f"move it away or choose another --out (nothing was written)")
        replace_files(out_dir, files)
        for name in sorted(ours - set(files)):         # sets an earlier run wrote that this one does not
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(out_dir, name))
    return manifest


def _written_before(out_dir: str) -> set[str]:
    """The files an earlier run wrote into `out_dir`: its manifest and the files it lists
    (nothing, when there is no manifest or it is not one of ours)."""
    path = os.path.join(out_dir, MANIFEST)
    if not os.path.isfile(path):        # absent, or a FIFO or a device: nothing to read, nothing ours
        return set()
    try:
        with open(path, encoding="utf-8") as fh:
            manifest = json.load(fh)
        listed = {entry["file"] for entry in manifest["sets"]}
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    if not all(isinstance(f, str) and f.endswith(".npz") and os.path.basename(f) == f for f in listed):
        return set()
    return {MANIFEST, *listed}


def read_sets(folder: str) -> list[WorkloadSet]:
    """Load what `write_sets` wrote, checking each file's hash against the manifest."""
    path = os.path.join(folder, "manifest.json")
    if not os.path.exists(path):
        raise InputError(f"{folder}: no manifest.json; create the folder with `adrs-spec workloads SPEC --out {folder}`")
    try:
        manifest = json.load(open(path))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON ({err})") from None
    sets = []
    for entry in manifest["sets"]:
        file = os.path.join(folder, entry["file"])
        data = open(file, "rb").read()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise InputError(f"{file}: content does not match its hash in the manifest; regenerate the folder")
        arrays = np.load(io.BytesIO(data))
        groups = []
        for i, g in enumerate(entry["groups"]):
            fields = {n: arrays[f"g{i}.{n}"] for n in g["shapes"]}
            groups.append(Group(g["params"], fields, g["cases"], g["labels"], g["generator_args"]))
        sets.append(WorkloadSet(entry["name"], entry["kind"], entry["description"], groups))
    return sets
