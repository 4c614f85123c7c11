"""ROC figures and the Fig. 4 weight grid: known curves, exact geometry, atomic PNG files."""

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_curve

from ltw_tf.metrics import MetricsError
from ltw_tf.reporting import (
    CAPTION,
    GAP,
    HEADER,
    MARGIN,
    PAD,
    TILE,
    GridRow,
    caption_decimals,
    extremes_grid,
    grid_size,
    roc_figure,
    save_png,
    save_roc_png,
    weight_grid,
)

LABELS = np.array([0, 0, 1, 1])
PROBS = np.array([0.1, 0.4, 0.35, 0.8])  # AUC 0.75; ROC (0,0) (0,.5) (.5,.5) (.5,1) (1,1): EER exactly 0.5


def test_roc_figure_plots_the_curve_with_auc_and_eer():
    perfect = (np.array([0, 0, 1]), np.array([0.1, 0.2, 0.9]))
    fig = roc_figure({"frame": (LABELS, PROBS), "video": perfect}, title="t")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["chance", "frame (AUC 0.750, EER 0.500)", "video (AUC 1.000, EER 0.000)"]
    fpr, tpr, _ = roc_curve(LABELS, PROBS, drop_intermediate=False)
    curve = next(line for line in ax.lines if line.get_label().startswith("frame"))
    np.testing.assert_allclose(curve.get_xdata(), fpr)
    np.testing.assert_allclose(curve.get_ydata(), tpr)
    np.testing.assert_allclose(curve.get_xdata()[[0, 2, 4]], [0.0, 0.5, 1.0])
    markers = [line for line in ax.lines if line.get_marker() == "o"]
    assert [(m.get_xdata()[0], m.get_ydata()[0]) for m in markers] == [(0.5, 0.5), (0.0, 1.0)]  # EER points


def test_save_roc_png_size_and_atomicity(tmp_path):
    path = save_roc_png(tmp_path / "sub" / "roc.png", {"frame": (LABELS, PROBS)}, size=(4.0, 3.0), dpi=50)
    image = cv2.imread(str(path))
    assert image.shape == (150, 200, 3) and image.std() > 10  # drawn, not blank
    assert sorted(p.name for p in path.parent.iterdir()) == ["roc.png"]  # no temp file left
    with pytest.raises(MetricsError, match="both real and fake"):
        save_roc_png(tmp_path / "one.png", {"x": ([1, 1], [0.2, 0.9])})
    with pytest.raises(ValueError, match="at least one curve"):
        roc_figure({})
    assert not (tmp_path / "one.png").exists()


def test_grid_geometry_and_tile_placement(tmp_path):
    assert grid_size(1) == (2 * MARGIN + 2 * (HEADER + TILE + CAPTION) + PAD, 2 * MARGIN + 2 * TILE + GAP)
    assert grid_size(8) == (
        2 * MARGIN + 2 * (HEADER + TILE + CAPTION) + PAD,
        2 * MARGIN + 2 * (8 * TILE + 7 * PAD) + GAP,
    )
    single = grid_size(3, panels=1, rows=1, tile=32)
    assert single == (2 * MARGIN + HEADER + 32 + CAPTION, 2 * MARGIN + 3 * 32 + 2 * PAD)
    red, green = np.zeros((10, 20, 3)), np.zeros((30, 30), np.uint8)
    red[..., 0] = 255
    green[:] = 200  # grey: a 2-D face is broadcast to RGB
    panels = [
        [GridRow("fake hi", [red], [0.91]), GridRow("fake lo", [], [])],
        [GridRow("real hi", [green, green], [0.5, 0.25]), GridRow("real lo", [green], [0.125])],
    ]
    grid = weight_grid(panels, n=3)
    assert grid.shape == (*grid_size(3), 3) and grid.dtype == np.uint8
    panel = 3 * TILE + 2 * PAD
    top = MARGIN + HEADER
    assert tuple(grid[top + TILE // 2, MARGIN + TILE // 2]) == (255, 0, 0)  # red face, letterboxed 2:1
    assert tuple(grid[top + 2, MARGIN + TILE // 2]) == (255, 255, 255)
    x_real = MARGIN + panel + GAP
    assert tuple(grid[top + TILE // 2, x_real + TILE + PAD + TILE // 2]) == (200, 200, 200)
    caption = grid[top + TILE : top + TILE + CAPTION]
    assert (caption[:, MARGIN : MARGIN + TILE] < 128).any()  # the weight is written under the face
    assert (caption[:, MARGIN + TILE + PAD : MARGIN + panel] == 255).all()  # empty slots stay empty
    lower = MARGIN + HEADER + TILE + CAPTION + PAD + HEADER
    assert (grid[lower : lower + TILE, MARGIN : MARGIN + panel] == 255).all()  # "fake lo" has no faces
    with pytest.raises(ValueError, match="4 faces"):
        weight_grid([[GridRow("x", [red] * 4, [0.1] * 4)]], n=3)
    with pytest.raises(ValueError, match="same, non-zero number of rows"):
        weight_grid([[GridRow("x", [], [])], []], n=3)
    save_png(tmp_path / "g.png", grid)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "g.png"))[..., ::-1], grid)


def test_caption_decimals_keep_close_weights_apart():
    assert caption_decimals([0.1, 0.9]) == 4 and caption_decimals([0.5]) == 4
    assert caption_decimals([0.50471, 0.50478]) == 6  # spread 7e-5
    assert caption_decimals([0.5, 0.5]) == 7


def test_extremes_grid_reads_crops(tmp_path):
    for name, value in (("a.png", 40), ("b.png", 220)):
        cv2.imwrite(str(tmp_path / name), np.full((12, 12, 3), value, np.uint8))
    entry = {"a": {"weight": 0.2, "path": "a.png"}, "b": {"weight": 0.8, "path": "b.png"}}
    extremes = {"fake": {"highest": [entry["b"]], "lowest": [entry["a"]]}, "real": {"highest": [], "lowest": []}}
    grid = extremes_grid(extremes, tmp_path, n=2, tile=32)
    assert grid.shape == (*grid_size(2, tile=32), 3)
    assert tuple(grid[MARGIN + HEADER + 16, MARGIN + 16]) == (220, 220, 220)
    lower = MARGIN + 2 * HEADER + 32 + CAPTION + PAD
    assert tuple(grid[lower + 16, MARGIN + 16]) == (40, 40, 40)
    extremes["fake"]["lowest"] = [{"weight": 0.1, "path": "missing.png"}]
    with pytest.raises(FileNotFoundError, match="missing.png"):
        extremes_grid(extremes, tmp_path, n=2)
