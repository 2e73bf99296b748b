from fastapi.testclient import TestClient


def test_health_reports_postgresql_and_postgis_versions(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["postgresql"].split(".")[0].isdigit()
    assert body["database"]["postgis"].startswith("3.")
    assert body["standby"] is None  # no GRIDLINK_READ_DATABASE_URL
