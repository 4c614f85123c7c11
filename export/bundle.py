"""One export: run -> f(theta) -> SavedModel + .tflite variants + model card, staged then moved into place.

``plan_export`` resolves the run and the output folder and refuses to touch an existing export unless asked, all
before any work; ``export_run`` builds everything in a staging folder inside the output folder and renames each
finished artefact into place (the card last), so a failed or interrupted export leaves nothing half-written.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras

from export.card import CARD_NAME, model_card, write_card
from export.crops import crop_sets, in_batches, manifest_root
from export.savedmodel import export_graph, write_savedmodel
from export.tflite import (
    DEFAULT_QUANTIZATIONS,
    QUANTIZATIONS,
    ParityCheck,
    convert_float,
    convert_int8,
    write_bytes,
)
from export.verify import failures, format_parity, keras_predictor, verify_artefacts
from ltw_tf.locking import OutputLock
from ltw_tf.models.serving import FEATURES_NAME, serving_model
from ltw_tf.ood import STATS_NAME, FeatureStats, fit_on_run_faces, stage_widths
from ltw_tf.runs import RunRef, load_detector, resolve_run, run_data_root

log = logging.getLogger(__name__)

SAVEDMODEL_NAME = "savedmodel"
EXPORT_DIR = "export"


def tflite_name(quantization: str) -> str:
    return f"detector_{quantization}.tflite"


KNOWN_NAMES = (SAVEDMODEL_NAME, *(tflite_name(q) for q in QUANTIZATIONS), STATS_NAME, CARD_NAME)


def parse_quantizations(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"fp32,int8"`` -> ("fp32", "int8") in canonical order; None -> the default (fp32, fp16)."""
    if text is None:
        return DEFAULT_QUANTIZATIONS
    names = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    unknown = sorted(set(names) - set(QUANTIZATIONS))
    if unknown or not names:
        raise ValueError(f"unknown quantization {', '.join(unknown) or '(none)'}; valid: {', '.join(QUANTIZATIONS)}")
    return tuple(q for q in QUANTIZATIONS if q in names)


@dataclass(frozen=True)
class ExportPlan:
    """What one export will read and write (all resolved, nothing built yet)."""

    source: str  # the run directory or checkpoint as given
    which: str
    ref: RunRef
    out: Path
    savedmodel: bool
    quantizations: tuple[str, ...]  # .tflite variants; empty: no TFLite
    crops_root: Path | None  # prepared root for int8 calibration and --verify
    crops_benchmark: str | None  # the run's benchmark when crops come from its own data root
    verify: bool
    overwrite: bool
    ood_root: Path | None = None  # the run's own prepared root, for the out-of-distribution statistics

    def outputs(self) -> dict[str, Path]:
        """Artefact key -> final path (the card included)."""
        paths = {SAVEDMODEL_NAME: self.out / SAVEDMODEL_NAME} if self.savedmodel else {}
        paths.update({f"tflite_{q}": self.out / tflite_name(q) for q in self.quantizations})
        if self.ood_root is not None:
            paths["ood"] = self.out / STATS_NAME
        return {**paths, "card": self.out / CARD_NAME}


def plan_export(
    run: str | os.PathLike,
    out: str | os.PathLike | None = None,
    savedmodel: bool = False,
    tflite: bool = False,
    quantize: str | Sequence[str] | None = None,
    calibration: str | os.PathLike | None = None,
    verify: bool = False,
    overwrite: bool = False,
    which: str = "best",
) -> ExportPlan:
    """Resolve an export. Neither ``savedmodel`` nor ``tflite``: both; ``quantize`` implies TFLite.

    Raises FileExistsError when ``out`` already holds an export and ``overwrite`` is false.
    """
    ref = resolve_run(run, which)
    if not savedmodel and not tflite:
        savedmodel = tflite = True
    quantizations = parse_quantizations(quantize) if (tflite or quantize is not None) else ()
    crops_root, benchmark = None, None
    if "int8" in quantizations or verify:
        if calibration is not None:
            crops_root = manifest_root(calibration)
        else:
            crops_root, benchmark = run_data_root(ref.config), ref.config.data.benchmark
            if crops_root is None:
                need = "int8 calibration" if "int8" in quantizations else "--verify"
                raise ValueError(
                    f"{need} needs face crops and the run's data root "
                    f"({ref.config.data.data_root or 'unset'}) holds no manifest: pass --calibration ROOT"
                )
    out = Path(out) if out is not None else ref.run_dir / EXPORT_DIR
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    _refuse_existing(out, overwrite)
    ood_root = run_data_root(ref.config)
    return ExportPlan(
        str(run), which, ref, out, savedmodel, quantizations, crops_root, benchmark, verify, overwrite, ood_root
    )


def _refuse_existing(out: Path, overwrite: bool) -> None:
    existing = [name for name in KNOWN_NAMES if (out / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{out} already holds an export ({', '.join(existing)}); pass --overwrite to replace it or --out DIR"
        )


def _publish(staged: dict[str, Path], plan: ExportPlan) -> dict[str, Path]:
    """Move staged artefacts into ``plan.out`` (an --overwrite export first clears the previous export)."""
    if plan.overwrite:
        for name in KNOWN_NAMES:
            old = plan.out / name
            if old.is_dir():
                shutil.rmtree(old)
            elif old.exists():
                old.unlink()
    final = {}
    for key, path in staged.items():  # the card is last in ``staged``
        final[key] = plan.out / path.name
        os.replace(path, final[key])
    return final


def _ood_stats(graph, detector, plan: ExportPlan, size: int, say: Callable[[str], None]) -> FeatureStats | None:
    """The out-of-distribution statistics of the exported features on the run's own faces (``ltw_tf.ood``), or
    None (said) when the run's data root is gone."""
    if plan.ood_root is None:
        say("no out-of-distribution statistics: the run's data root is gone (screen will say it cannot check)")
        return None

    def predict(images):
        return None, keras.ops.convert_to_numpy(graph(images, training=False)[FEATURES_NAME])

    stats = fit_on_run_faces(predict, plan.ood_root, plan.ref.config.data.benchmark, size, stage_widths(detector))
    info = stats.info
    say(
        f"out-of-distribution statistics: {info['stages']} stages, {info['features']} features, fitted on "
        f"{info['train_faces']} training faces, threshold at the {info['percentile']:g}th percentile of "
        f"{info['val_faces']} val faces"
    )
    return stats


def export_run(plan: ExportPlan, say: Callable[[str], None] = log.info) -> dict:
    """Build every artefact of ``plan``; returns a JSON-ready summary (paths, card, parity, int8 details)."""
    detector, ref = load_detector(plan.source, plan.which)
    reference, graph = serving_model(detector), export_graph(detector, features=True)
    size = ref.config.model.image_size
    calibration = selection = held_out = None
    if plan.crops_root is not None:
        calibration, selection, held_out = crop_sets(plan.crops_root, size, plan.crops_benchmark)
        selection = selection or calibration
        say(
            f"crops: {len(calibration)} for calibration from {calibration.source}"
            + (f", {len(held_out)} held out for parity" if held_out is not None else "")
        )
    created = not plan.out.exists()
    plan.out.mkdir(parents=True, exist_ok=True)
    lock = OutputLock(plan.out, "export").acquire()  # one export per folder (ltw_tf.locking)
    staging = Path(tempfile.mkdtemp(prefix=".export-staging-", dir=plan.out))
    try:
        _refuse_existing(plan.out, plan.overwrite)  # again, under the lock: another export may have finished
        saved = write_savedmodel(graph, staging / SAVEDMODEL_NAME)
        say(f"SavedModel written ({size}px, signature serving_default)")
        staged: dict[str, Path] = {SAVEDMODEL_NAME: saved} if plan.savedmodel else {}
        kinds = {SAVEDMODEL_NAME: "savedmodel"} if plan.savedmodel else {}
        ood = _ood_stats(graph, detector, plan, size, say)
        if ood is not None:
            staged["ood"] = ood.save(staging / STATS_NAME)
        int8 = None
        for quantization in plan.quantizations:
            key = f"tflite_{quantization}"
            if quantization == "int8":
                check = ParityCheck(
                    selection.images,
                    selection.labels,
                    in_batches(keras_predictor(reference), selection.images),
                    selection.source,
                )
                result = convert_int8(saved, calibration.images, check)
                model = result.model
                int8 = {
                    "calibration": calibration.source,
                    "calibration_crops": len(calibration),
                    "scheme": "full integer, per-channel int8 weights, int8 activations; uint8 input, float32 "
                    "output; the head (logit, sigmoid) float",
                    "float_ops": result.float_nodes,
                    "float_ops_chosen_on": check.source,
                    "selection_auc": result.selection_auc,
                }
            else:
                model = convert_float(saved, quantization)
            staged[key] = write_bytes(model, staging / tflite_name(quantization))
            kinds[key] = quantization
            say(f"TFLite {quantization} converted ({len(model) / 1e6:.2f} MB)")
        parity = None
        if plan.verify:
            crops = held_out if held_out is not None else calibration
            by_kind = verify_artefacts(reference, {kinds[k]: p for k, p in staged.items() if k in kinds}, crops)
            parity = by_kind
            for line in format_parity(by_kind):
                say(f"verify {line}")
            failed_kinds = failures(by_kind)
            if failed_kinds:
                failed = format_parity({k: by_kind[k] for k in failed_kinds})
                passed = [q for q in plan.quantizations if q in by_kind and q not in failed_kinds]
                hint = f" (to ship the ones that passed: --quantize {','.join(passed)})" if passed else ""
                raise RuntimeError(
                    f"verify failed, nothing written: {'; '.join(' '.join(f.split()) for f in failed)}" + hint
                )
        artefacts = {
            k: {
                "path": str(p),
                "format": "savedmodel" if k == SAVEDMODEL_NAME else "tflite",
                **({"quantization": kinds[k]} if k != SAVEDMODEL_NAME else {}),
            }
            for k, p in staged.items()
            if k != "ood"
        }
        ood_record = None if ood is None else {"path": str(staged["ood"]), "threshold": 1.0, **ood.info}
        card = model_card(ref, detector.count_params(), artefacts, plan.out, parity, int8, ood_record)
        staged["card"] = write_card(card, staging / CARD_NAME)
        final = _publish(staged, plan)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        lock.release()
        if created and not any(plan.out.iterdir()):
            plan.out.rmdir()  # a failed export leaves no empty folder behind
    return {
        "run_dir": str(ref.run_dir),
        "checkpoint": ref.checkpoint,
        "checkpoint_kind": ref.kind,
        "out": str(plan.out),
        "artefacts": {k: str(p) for k, p in final.items()},
        "parity": parity,
        "int8": int8,
        "parameters": int(detector.count_params()),
    }
