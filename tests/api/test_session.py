"""Browser sign-in: a key kept in an HttpOnly cookie, honoured for reads only."""

from __future__ import annotations

from fastapi.testclient import TestClient

HTML = {"Accept": "text/html,application/xhtml+xml"}


def test_page_without_key_redirects_a_browser_to_login(client: TestClient) -> None:
    response = client.get("/maps", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fmaps"


def test_api_client_without_key_still_gets_401_json(client: TestClient) -> None:
    response = client.get("/maps", follow_redirects=False)
    assert response.status_code == 401
    assert response.json()["error"] == "auth_required"


def test_login_with_unknown_key_is_refused(client: TestClient) -> None:
    response = client.post("/login", data={"key": "gl_wrong"}, follow_redirects=False)
    assert response.status_code == 401
    assert "密钥无效" in response.text
    assert "gridlink_key" not in response.cookies


def test_login_sets_an_httponly_cookie_that_opens_map_pages(
    client: TestClient, keys: dict[str, str]
) -> None:
    response = client.post("/login", data={"key": keys["viewer"], "next": "/maps"},
                           follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/maps"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/maps", headers=HTML).status_code == 200


def test_cookie_is_not_accepted_for_writes(client: TestClient, keys: dict[str, str]) -> None:
    client.post("/login", data={"key": keys["admin"]}, follow_redirects=False)
    response = client.post("/admin/keys", json={"name": "x", "role": "viewer"})
    assert response.status_code == 401


def test_login_never_redirects_to_another_host(client: TestClient, keys: dict[str, str]) -> None:
    response = client.post("/login", data={"key": keys["viewer"], "next": "//evil.example/"},
                           follow_redirects=False)
    assert response.headers["location"] == "/maps"


def test_logout_forgets_the_cookie(client: TestClient, keys: dict[str, str]) -> None:
    client.post("/login", data={"key": keys["viewer"]}, follow_redirects=False)
    client.post("/logout", follow_redirects=False)
    assert client.get("/maps", follow_redirects=False).status_code == 401


def test_key_revoked_through_the_api_stops_working_at_once(
    client: TestClient, keys: dict[str, str]
) -> None:
    viewer = {"X-API-Key": keys["viewer"]}
    assert client.get("/maps", headers=viewer).status_code == 200  # now cached as valid
    revoked = client.delete(f"/admin/keys/{keys['viewer'][:7]}",
                            headers={"X-API-Key": keys["admin"]})
    assert revoked.status_code == 200 and revoked.json()["revoked"] >= 1
    response = client.get("/maps", headers=viewer)
    assert response.status_code == 401
    assert response.json()["message"] == "the API key is unknown or revoked"


def test_home_page_leads_to_the_maps(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/maps"
