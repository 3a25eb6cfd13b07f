async def test_register_login_and_create_project(client):
    r = await client.post(
        "/api/v1/auth/register", json={"email": "a@example.com", "password": "password123", "full_name": "A"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["is_admin"] is True
    r = await client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": "password123"})
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = await client.post("/api/v1/projects", json={"title": "P1", "budget": 100}, headers=headers)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = await client.get(f"/api/v1/projects/{pid}", headers=headers)
    assert r.status_code == 200 and r.json()["budget"] == 100.0
    r = await client.get("/api/v1/projects?limit=5", headers=headers)
    assert r.json()["total"] == 1
