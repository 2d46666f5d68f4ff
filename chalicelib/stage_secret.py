"""The stage secret: where a deployed stage's keys come from.

Lambda caps a function's environment variables at 4 KB in all, which a pair of platform
certificates and the public keys already exceed (CloudFormation dynamic references resolve into
environment variables, so they hit the same cap). A deployed stage therefore reads every value of
`config.SECRET_FIELDS` from one AWS Secrets Manager secret, a JSON object whose keys are those
fields' names, named by `YUNDIAN_SECRET_ID` (`yundian/<stage>`, .chalice/config.json); the
stage's Lambda role may read that secret only (infra/build.py). What is not secret (the stage,
table prefix, time zone, fee provider) stays in the environment. The local stage never calls
AWS: it reads the environment only.

Read once per cold start: the runtime builds the services once per container, and Powertools'
Parameters cache (`MAX_AGE_SECONDS`) lets a build retried after a later failure reuse the value
instead of reading it again. A rotated secret reaches new containers (publish a new version or
update the function's configuration to replace the warm ones).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.config import LOCAL_STAGE, SECRET_FIELDS, Config

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

SECRET_ID_ENV = "YUNDIAN_SECRET_ID"
MAX_AGE_SECONDS = 300


def load_config(env: Mapping[str, str] | None = None, *, provider: SecretsProvider | None = None) -> Config:
    """The configuration of this process: the environment alone on the local stage; the
    environment and the stage secret on a deployed one (read with `provider`, default Powertools'
    own, cached). A RuntimeError names what is missing."""
    e = os.environ if env is None else env
    stage = e.get("YUNDIAN_STAGE", "")
    if stage in ("", LOCAL_STAGE):
        return Config.from_env(e)  # refuses an unset stage itself
    secret_id = e.get(SECRET_ID_ENV, "")
    if not secret_id:
        raise RuntimeError(f"{SECRET_ID_ENV} is not set for stage {stage!r}: name the stage secret that holds "
                           f"{', '.join(SECRET_FIELDS)} (`yundian/{stage}` in .chalice/config.json)")
    try:
        return Config.from_env(e, secret=read_secret(secret_id, provider=provider))
    except RuntimeError:
        _forget(provider)  # only a usable secret stays cached: the next build reads it again
        raise


def read_secret(secret_id: str, *, provider: SecretsProvider | None = None) -> dict[str, str]:
    """The values of `SECRET_FIELDS` the secret `secret_id` holds, or a RuntimeError naming the
    secret and what is wrong with it (never a value of it). Keys it holds beyond those are left
    alone, so a secret can gain a key before the code that reads it is deployed."""
    from aws_lambda_powertools.utilities import parameters
    from botocore.exceptions import BotoCoreError

    try:
        if provider is None:
            value: Any = parameters.get_secret(secret_id, transform="json", max_age=MAX_AGE_SECONDS)
        else:
            value = provider.get(secret_id, transform="json", max_age=MAX_AGE_SECONDS)
    except parameters.TransformParameterError as exc:
        raise RuntimeError(f"stage secret {secret_id!r} is not JSON ({exc.__cause__}): store one JSON object "
                           f"with the keys {', '.join(SECRET_FIELDS)}") from None
    except (parameters.GetParameterError, BotoCoreError) as exc:
        raise RuntimeError(f"cannot read stage secret {secret_id!r}: {exc} (it must exist in this function's "
                           "region, and the stage's Lambda role may secretsmanager:GetSecretValue on it)") from exc
    return _fields(secret_id, value)


def _fields(secret_id: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise RuntimeError(f"stage secret {secret_id!r} is JSON but not an object: store one JSON object with "
                           f"the keys {', '.join(SECRET_FIELDS)}")
    missing = [key for key in SECRET_FIELDS if key not in value]
    if missing:
        unknown = sorted(set(value) - set(SECRET_FIELDS))
        hint = f" (it has keys no field reads: {', '.join(unknown)} — a typo?)" if unknown else ""
        raise RuntimeError(f"stage secret {secret_id!r} lacks {', '.join(missing)}{hint}; one a stage does "
                           "not use may be an empty string")
    not_text = [key for key in SECRET_FIELDS if not isinstance(value[key], str)]
    if not_text:
        raise RuntimeError(f"stage secret {secret_id!r}: {', '.join(not_text)} must be JSON strings "
                           "(quote merchant and app ids)")
    return {key: value[key] for key in SECRET_FIELDS}


def _forget(provider: SecretsProvider | None) -> None:
    from aws_lambda_powertools.utilities import parameters

    if provider is None:
        parameters.clear_caches()  # Powertools' default providers; this app uses its secrets one only
    else:
        provider.clear_cache()
