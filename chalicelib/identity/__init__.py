"""Identity: how people and programs get a token — API keys and the tokens issued from them,
their revocation, the rate limit of `/v1/auth/*`, customer tokens and the memory of platform
authorization codes."""
