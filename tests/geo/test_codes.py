"""geo.codes: digit-only codes, lengths, parent prefixes, GB/T 28181, Excel damage."""

from __future__ import annotations

from geo.codes import code_problems, excel_damage, gb28181_problems

COMMUNITY = "140213001001"
GRID = "140213001001003"
CAMERA = "14021300081310000001"  # 08 = urban management, 131 = camera


def test_valid_codes_have_no_problems() -> None:
    assert code_problems("140213", "area", level="district") == []
    assert code_problems("140213001", "area", level="street", parent_code="140213") == []
    assert code_problems(GRID, "grid", parent_code=COMMUNITY) == []
    assert code_problems(GRID + "01", "micro", parent_code=GRID) == []
    assert code_problems(CAMERA, "camera") == []
    assert code_problems("B-17", "text") == []


def test_non_digits_and_wrong_lengths() -> None:
    assert code_problems("14021300100100A", "grid") == [
        "code '14021300100100A' must contain digits only"]
    assert code_problems("1402130010010", "grid") == [
        "code '1402130010010' has 13 digits, expected 14 or 15 or 20"]
    assert code_problems("1402130011", "area", level="street") == [
        "code '1402130011' has 10 digits, expected 9"]


def test_parent_prefix() -> None:
    assert code_problems("140213002001003", "grid", parent_code=COMMUNITY) == [
        "code '140213002001003' does not start with its community code '140213001001'"]
    assert code_problems(GRID + "0001", "micro", parent_code=GRID) == [
        "code '1402130010010030001' has 19 digits, expected 17 or 18"]


def test_gb28181_device_type() -> None:
    assert gb28181_problems("14021300081110000001") == [
        "camera id '14021300081110000001' has device type 111 (digits 11-13); "
        "a camera is 131 or 132 in GB/T 28181"]
    assert gb28181_problems("1402130008131000001") == [
        "code '1402130008131000001' has 19 digits, expected 20"]


def test_excel_damage_is_refused() -> None:
    assert "scientific notation" in (excel_damage("1.40213E+11") or "")
    assert "decimal tail" in (excel_damage("140213001001.0") or "")
    assert "stored as a number" in (excel_damage(140213001001003) or "")
    assert excel_damage("014021300100") is None
    assert code_problems("1.40213E+14", "grid")[0].startswith("code '1.40213E+14' is in")
