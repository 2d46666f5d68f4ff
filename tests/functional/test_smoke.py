from tests.helpers import Api


def test_onboarding_and_ping(api: Api) -> None:
    pid = api.new_partner()
    m = api.new_merchant(pid, stores=2)
    t = api.new_terminal(m)
    r = api.signed(t, "/v1/terminal/ping", {})
    assert r.status == 200, r.body
    assert r.body["merchant_id"] == m["merchant_id"]
