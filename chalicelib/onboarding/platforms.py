"""The payment platforms a merchant binds to, and what their merchant ids look like (plain
constants, shared by the domain and the request bodies)."""

from __future__ import annotations

ALIPAY, WECHATPAY = "alipay", "wechatpay"
PLATFORMS = (ALIPAY, WECHATPAY)
# Alipay seller ids (2088…), WeChat Pay sub_mchid (8–32 digits)
PLATFORM_ID_PATTERNS = {ALIPAY: r"^[0-9A-Za-z]{1,32}$", WECHATPAY: r"^[0-9]{8,32}$"}
