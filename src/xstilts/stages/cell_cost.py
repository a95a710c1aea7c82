"""A cell's training cost (both phases) + its inference profile's path: the ``profile.json``
its evaluate job writes next to ``eval.json``.  Reads JSON records only (no torch).
"""

from __future__ import annotations

from xstilts.core import paths
from xstilts.core.records import CellCost, CostRecord, RecordError


def _read(path: str) -> CostRecord:
    try:
        return CostRecord.from_json(path)
    except RecordError as err:
        if "file not found" in str(err):
            raise FileNotFoundError(f"cost record {path} is missing") from err
        raise


def cell_cost(cell) -> CellCost:
    """Training cost of both phases of a cell (a zero-shot target such as BUCC has no target
    phase, ``none``/``scratch`` no intermediate phase)."""
    tgt = None if cell.zero_shot else _read(paths.checkpoint_done(cell.model_dir))
    inter = _read(paths.checkpoint_done(cell.inter_dir)) if cell.inter.trains else None
    phases = {"intermediate": inter, "target": tgt}
    done = [v for v in phases.values() if v]
    return CellCost(model=cell.model, inter=cell.inter.name, target=cell.target, seed=int(cell.seed),
                    phases={k: (v.summary() if v else None) for k, v in phases.items()},
                    total_train_flops=sum(v.flops for v in done),
                    total_train_wall_s=sum(v.wall_s for v in done),
                    total_device_hours=sum(v.device_hours for v in done),
                    inference_profile=paths.inference_profile(cell.model, cell.target))
