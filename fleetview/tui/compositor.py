"""Skip what is covered when Textual composes a frame.

Textual's Compositor._render_chops renders every visible widget and cuts each of
its lines at every widget edge on that line, front to back, keeping the first strip
for each cut. The widgets behind the views (the screen, the views container, the
view itself, a row of columns) are wholly covered, yet each of their 40 lines was
rendered and divided at every cut (~20 cuts a line on the board). This version divides a widget's line only where a cut
is still empty, and does not render a widget whose lines are all covered; the frame
is the same, since the first strip for a cut always wins.

The cursor moves between those strips are remembered too (_Control). With the
theme lookup in FleetviewApp.current_theme, a view switch at 500 agents / 2,000 tasks /
20,000 messages took ~10-20% less CPU (bench/tui_scale.py); the frame's remaining cost
is rendering the newly shown widgets' lines (focus and blur re-render a whole table).

Private API: textual is pinned exactly (pyproject), and tests/test_tui_snapshots.py
compares whole frames, so a change there shows up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import textual._compositor
from rich.control import Control
from textual._compositor import Compositor
from textual.geometry import Region
from textual.strip import Strip

_PATCHED = False


def _render_chops(
    self: Compositor, crop: Region, is_rendered_line: Callable[[int], bool]
) -> Sequence[Mapping[int, Strip]]:
    cuts = self.cuts
    chops: list[dict[int, Any]] = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
    crop_overlaps = crop.overlaps if crop else None
    intersection = Region.intersection
    for widget, (region, clip) in self.visible_widgets.items():
        if crop_overlaps is not None and not crop_overlaps(clip):
            continue
        render_region = intersection(region, clip)
        x, y0, width, height = render_region
        if not (width and height):
            continue
        first_cut, last_cut = render_region.column_span
        todo: list[tuple[int, list[int]]] = []
        for y in render_region.line_range:
            if not is_rendered_line(y):
                continue
            line = chops[y]
            final_cuts = [cut for cut in cuts[y] if last_cut >= cut >= first_cut]
            for cut in final_cuts[:-1]:
                if line.get(cut) is None:
                    todo.append((y, final_cuts))
                    break
        if not todo:
            continue
        if Region.contains_region(clip, region):
            strips = widget.render_lines(Region(0, 0, region.width, region.height))
        else:
            strips = widget.render_lines(Region(x - region.x, y0 - region.y, width, height))
        for y, final_cuts in todo:
            index = y - y0
            if index >= len(strips):
                continue
            line = chops[y]
            get = line.get
            for cut, strip in zip(
                final_cuts, strips[index].divide([cut - x for cut in final_cuts[1:]])
            ):
                if get(cut) is None:
                    line[cut] = strip
    return chops


class _Control(Control):
    """rich's Control with move_to remembered: a frame that redraws the screen moves the
    cursor once per cut on every line, and building each move was ~10% of the frame."""

    @classmethod
    @lru_cache(maxsize=8192)  # a few screens' worth of positions, kept for good
    def move_to(cls, x: int, y: int) -> Control:
        return Control.move_to(x, y)


def install() -> None:
    """Replace Compositor._render_chops and its cursor moves (once per process)."""
    global _PATCHED
    if not _PATCHED:
        Compositor._render_chops = _render_chops  # type: ignore[method-assign]
        textual._compositor.Control = _Control  # type: ignore[misc]
        _PATCHED = True
