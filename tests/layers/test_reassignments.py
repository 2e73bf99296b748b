"""layers.reassignments: the planner's panel of grids by reassignments."""

from __future__ import annotations

from layers.reassignments import SHOWN, reassignment_panel_html


def test_panel_lists_the_most_reassigned_grids_escaped() -> None:
    rows = [{"code": f"1402130010010{i:02d}", "name": f"<{i}>网格", "moved_out": 20 - i,
             "moved_in": i, "reassignments": 20} for i in range(12)]
    text = reassignment_panel_html(rows, 90)
    assert text.startswith("<b>近 90 天改派最多的网格</b>")
    assert text.count("<tr><td>") == SHOWN == 10
    assert "<td>&lt;0&gt;网格</td><td>140213001001000</td>" in text
    assert "140213001001010" not in text


def test_panel_without_reassignments_says_so() -> None:
    assert reassignment_panel_html([], 90) == "<b>近 90 天改派最多的网格</b><div>没有改派</div>"
