"""The OpenAPI document names the payments area's response models and the errors its routes answer."""

from typing import get_args

import app  # noqa: F401 - registers every route
from chalicelib.payments import domain, responses

M = "/v1/merchants/{merchant_id}"
ROUTES = [  # method, path, success status, response model, error statuses beyond the inferred ones
    ("post", "/v1/terminal/payments", "200", responses.PaymentRecorded, {409}),
    ("post", "/v1/terminal/refunds", "200", responses.RefundRecorded, {404, 409}),
    ("get", f"{M}/dashboard", "200", responses.Dashboard, set()),
    ("get", f"{M}/dashboard/series", "200", responses.DashboardSeries, set()),
    ("get", f"{M}/callbacks", "200", responses.CallbackPage, set()),
    ("get", "/v1/admin/callbacks", "200", responses.CallbackPage, set()),
    ("get", f"{M}/payments", "200", responses.PaymentPage, set()),
    ("get", f"{M}/payments/{{out_trade_no}}", "200", responses.Payment, set()),
]





def test_wechatpay_answers_204_without_a_body_and_its_errors_in_the_error_shape(doc: dict) -> None:
    answers = doc["paths"]["/v1/notify/wechatpay"]["post"]["responses"]
    assert "content" not in answers["204"] and "200" not in answers
    assert set(answers) == {"204", "400", "401", "403", "404", "409", "413", "422", "503"}
    for status in set(answers) - {"204"}:
        assert answers[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_alipay_answers_plain_text(doc: dict) -> None:
    answers = doc["paths"]["/v1/notify/alipay"]["post"]["responses"]
    assert set(answers) == {"200", "4XX", "5XX"}
    assert all(set(a["content"]) == {"text/plain"} for a in answers.values())


def test_the_documented_flags_and_channels_are_the_domains() -> None:
    flags = {v for k, v in vars(domain).items() if k.startswith("FLAG_")}
    assert set(get_args(responses.Flag)) == flags
    assert set(get_args(responses.Channel)) == {"terminal", "alipay", "wechatpay"}
