"""A month of case records with named units, imported with their lifecycle through the CLI,
reproduces the monthly assessment computed by hand, in /stats/assessment (JSON, CSV, XLSX),
`gridlink stats assessment` and /stats, including a unit with media deductions."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import auth

runner = CliRunner()
MONTH = "2026-11"
HEADER = ("案件编号,问题类型,上报时间,应结案时间,结案时间,延期次数,返工次数,一次性完成,责任单位,"
          "经度,纬度")
DUE, ON_TIME, LATE = "2026-11-20 18:00", "2026-11-18 10:00", "2026-11-25 10:00"

# unit: (closed_at, postponements, reworks, 一次性完成 as the old platform recorded it)
CASES: dict[str, list[tuple[str, int, int, str]]] = {
    "城管局": [(ON_TIME, 0, 0, "")] * 5 + [(ON_TIME, 0, 1, ""), (LATE, 0, 1, ""),
                                           (LATE, 0, 1, ""), ("", 1, 0, ""), ("", 1, 0, "")],
    "住建局": [(ON_TIME, 0, 0, "是")] * 4 + [(ON_TIME, 0, 0, "否")],
    "市场监管局": [(ON_TIME, 0, 0, ""), (LATE, 1, 0, ""), ("", 0, 0, ""), ("", 0, 0, "")],
}
# By hand (weights 24, 32, 8, 16, 20; rates over due, first-time over closed):
EXPECTED = {
    # unit: due, closed, on-time, closure, postponed, first-time, deduction, score
    "住建局": (5, 5, 1.0, 1.0, 0.0, 0.8, 0.0, 24 + 32 + 8 + 16 * 0.8 + 20),
    "城管局": (10, 8, 0.6, 0.8, 0.2, 0.625, 2.0,
              24 * 0.6 + 32 * 0.8 + 8 * 0.8 + 16 * 0.625 + 20 - 2),
    "市场监管局": (4, 2, 0.25, 0.5, 0.25, 1.0, 1.5,
                24 * 0.25 + 32 * 0.5 + 8 * 0.75 + 16 * 1.0 + 20 - 1.5),
}
COUNTS = {"城管局": (6, 2, 5), "住建局": (5, 0, 4), "市场监管局": (1, 1, 2)}


def case_file(tmp: Path) -> Path:
    lines = [HEADER]
    for unit, cases in CASES.items():
        for i, (closed, post, rework, first) in enumerate(cases):
            lines.append(f"NOV-{unit}-{i},市容环境,2026-11-05 09:00,{DUE},{closed},{post},"
                         f"{rework},{first},{unit},113.30,40.08")
    # reported just after the month ends in China Standard Time (still 30 Nov in UTC)
    lines.append("NOV-城管局-december,市容环境,2026-12-01 00:30,2026-12-05 18:00,"
                 "2026-12-03 10:00,0,0,,城管局,113.30,40.08")
    path = tmp / "cases.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    return path


@pytest.fixture
def imported_month(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[None]:
    """The cases imported and a deduction entered through the CLI (committed; removed after)."""
    result = runner.invoke(app, ["events", "import", str(case_file(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "20 rows: 20 inserted" in result.output
    result = runner.invoke(app, ["stats", "deduct", "城管局", "--month", MONTH, "--points", "2",
                                 "--note", "晚报曝光"])
    assert result.exit_code == 0, result.output
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE client_id LIKE 'NOV-%'"))
        conn.execute(text("DELETE FROM media_deductions WHERE month = '2026-11-01'"))


def check_rows(units: list[dict[str, object]], expected: Mapping[str, tuple[float, ...]]
               ) -> None:
    assert [u["unit"] for u in units] == sorted(expected)
    for row in units:
        due, closed, on_time, closure, postponed, first, cut, score = expected[str(row["unit"])]
        assert (row["due"], row["closed"]) == (due, closed)
        assert row["on_time_rate"] == pytest.approx(on_time, abs=1e-6)
        assert row["closure_rate"] == pytest.approx(closure, abs=1e-6)
        assert row["postponement_rate"] == pytest.approx(postponed, abs=1e-6)
        assert row["first_time_rate"] == pytest.approx(first, abs=1e-6)
        assert row["deduction"] == cut
        assert row["score"] == round(score, 4)
        assert (row["closed_on_time"], row["postponed"], row["first_time"]) == \
            COUNTS[str(row["unit"])]


def test_month_of_cases_reproduces_the_hand_computed_table(
        imported_month: None, client: TestClient, keys: dict[str, str], tmp_path: Path) -> None:
    put = client.put("/stats/deductions", headers=auth(keys, "dispatcher"),
                     json={"unit": "市场监管局", "month": MONTH, "points": 1.5, "note": "电视台"})
    assert put.status_code == 200, put.text
    assert (put.json()["points"], put.json()["entered_by"]) == (1.5, "test dispatcher")
    listed = client.get("/stats/deductions", params={"month": MONTH},
                        headers=auth(keys, "viewer")).json()["deductions"]
    assert [(d["unit"], d["points"], d["note"], d["entered_by"][:4]) for d in listed] == [
        ("城管局", 2.0, "晚报曝光", "cli:"), ("市场监管局", 1.5, "电视台", "test")]
    r = client.get("/stats/assessment", params={"month": MONTH}, headers=auth(keys, "viewer"))
    assert r.status_code == 200, r.text
    check_rows(r.json()["units"], EXPECTED)
    assert list(r.json()["units"][0])[:10] == [
        "unit", "name", "due", "closed", "on_time_rate", "closure_rate", "postponement_rate",
        "first_time_rate", "deduction", "score"]

    text_csv = client.get("/stats/assessment", params={"month": MONTH, "format": "csv"},
                          headers=auth(keys, "viewer")).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text_csv)))
    assert rows[0] == ["单位", "名称", "应结案数", "结案数", "按期结案率", "结案率", "延期率",
                       "一次性完成率", "媒体督办扣分", "综合得分"]
    assert rows[2] == ["城管局", "", "10", "8", "60.00%", "80.00%", "20.00%", "62.50%", "2.0",
                       "74.4"]

    xlsx = client.get("/stats/assessment", params={"month": MONTH, "format": "xlsx"},
                      headers=auth(keys, "viewer"))
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[3] == ["市场监管局", None, 4, 2, 0.25, 0.5, 0.25, 1.0, 1.5, 62.5]
    assert sheet.cell(row=2, column=5).number_format == "0.00%"

    stats = client.get("/stats", params={"level": "department",
                                         "since": "2026-11-01T00:00:00+08:00",
                                         "until": "2026-12-01T00:00:00+08:00"},
                       headers=auth(keys, "viewer")).json()["units"]
    assert [(u["unit"], u["first_time_rate"]) for u in stats] == [
        ("住建局", 0.8), ("城管局", 0.625), ("市场监管局", 1.0)]


def test_cli_prints_and_writes_the_table(imported_month: None, tmp_path: Path) -> None:
    result = runner.invoke(app, ["stats", "assessment", "--month", MONTH, "--format", "json"])
    assert result.exit_code == 0, result.output
    units = json.loads(result.output)["units"]
    no_api_deduction = EXPECTED | {"市场监管局": EXPECTED["市场监管局"][:6] + (0.0, 64.0)}
    check_rows(units, no_api_deduction)
    out = tmp_path / "nov.xlsx"
    result = runner.invoke(app, ["stats", "assessment", "--month", MONTH, "--format", "xlsx",
                                 "--out", str(out)])
    assert result.exit_code == 0 and "wrote 3 unit(s)" in result.output
    assert load_workbook(out).active.cell(row=1, column=10).value == "综合得分"  # type: ignore[union-attr]


def test_bad_month_and_negative_points_are_refused(client: TestClient,
                                                  keys: dict[str, str]) -> None:
    r = client.get("/stats/assessment", params={"month": "11/2026"}, headers=auth(keys, "viewer"))
    assert r.status_code == 422 and r.json()["message"] == \
        "month '11/2026' is not YYYY-MM (e.g. 2026-11)"
    r = client.put("/stats/deductions", headers=auth(keys, "dispatcher"),
                   json={"unit": "城管局", "month": MONTH, "points": -1})
    assert r.status_code == 422
    r = client.put("/stats/deductions", headers=auth(keys, "viewer"),
                   json={"unit": "城管局", "month": MONTH, "points": 1})
    assert r.status_code == 403
