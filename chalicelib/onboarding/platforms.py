"""The payment platforms a merchant binds to, and what their merchant ids look like (plain
constants, shared by the domain and the request bodies)."""

from __future__ import annotations

ALIPAY, WECHATPAY = "alipay", "wechatpay"
PLATFORMS = (ALIPAY, WECHATPAY)
# Alipay seller ids (2088…), WeChat Pay sub_mchid (8–32 digits)
PLATFORM_ID_PATTERNS = {ALIPAY: r"^[0-9A-Za-z]{1,32}$", WECHATPAY: r"^[0-9]{8,32}$"}
# An id of some platform: what the OpenAPI document can say where the platform is named elsewhere
# (a path parameter), since JSON Schema cannot make a body's pattern depend on the path.
ANY_PLATFORM_ID_PATTERN = "^(?:" + "|".join(p.removeprefix("^").removesuffix("$")
                                            for p in PLATFORM_ID_PATTERNS.values()) + ")$"
PLATFORM_ID_FORMATS = (f"alipay: the Alipay seller id, {PLATFORM_ID_PATTERNS[ALIPAY]}; "
                       f"wechatpay: the WeChat Pay sub_mchid, {PLATFORM_ID_PATTERNS[WECHATPAY]}")
