"""Terminal authentication for the payment callbacks, in one round trip with the recording.

`TerminalAuthenticator.authenticate` (onboarding) reads the terminal consistently and claims
the nonce before the view runs: three round trips with the payment transaction. Here the
terminal's immutable parts (secret, store, merchant, partner) are cached per container, the
signature is checked against the cached secret, and the nonce claim plus a ConditionCheck
that the terminal is not revoked go INTO the recording transaction, so revocation still takes
effect at once. Paths that write nothing (errors, duplicates) claim the nonce on their own.
"""

from __future__ import annotations

import threading

from chalicelib.auth import SignedRequest, verify_signature
from chalicelib.errors import Unauthorized
from chalicelib.onboarding.domain import Terminal, TerminalIdentity
from chalicelib.onboarding.ports import OnboardingRepository


class TerminalVerifier:
    """Verifies a terminal's signature; nonce and revocation are checked by the caller's transaction."""

    def __init__(self, repo: OnboardingRepository) -> None:
        self.repo = repo
        self._cache: dict[str, Terminal] = {}
        self._lock = threading.Lock()

    def _terminal(self, terminal_id: str) -> Terminal | None:
        cached = self._cache.get(terminal_id)
        if cached is not None:
            return cached
        terminal = self.repo.get_terminal(terminal_id)
        if terminal is not None:
            with self._lock:
                self._cache[terminal_id] = terminal
        return terminal

    def verify(self, signed: SignedRequest, method: str, path: str, body: bytes) -> TerminalIdentity:
        terminal = self._terminal(signed.terminal_id)
        if terminal is None:
            raise Unauthorized("unknown terminal", code="unknown_terminal")
        verify_signature(signed, terminal.secret, method, path, body)
        if terminal.revoked:  # known revoked already; otherwise the transaction checks it
            raise Unauthorized("terminal revoked", code="terminal_revoked")
        return TerminalIdentity(terminal.terminal_id, terminal.store_id, terminal.merchant_id,
                                terminal.partner_id, signed.nonce)
