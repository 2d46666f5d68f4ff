"""Acting out the demo's story (`localdev.demo_story`) through the services, the way the people
and machines around yundian do it — never by writing items:

- a shop's terminal asks for the buyer's offer (`POST /v1/terminal/offers`: the member discount)
  and reports payments and refunds, each request signed with the terminal's secret at the real
  time (signature freshness is about the wall clock);
- the payment platforms notify payments and refunds, signed with the local stage's platform keys
  (`localdev/platform_keys.py`, `localdev/wechatpay_platform.py`, in `make run`'s data folder) —
  only where the server trusts those keys (a tester's own `ALIPAY_*`/`WECHATPAY_*` keys stay
  theirs: the demo's payments are then terminal-only);
- customers lock memberships and ask back a shortfall (the local stage's sandbox fee provider).

Payments may be reported late (`paid_at` in the past is accepted), but what is recorded *at* a
time — a refund's business day, a membership's start, a confirmation, a callback's log entry —
takes the business clock's time. So the story is played on the local stage's test clock
(`OffsetClock`, what `POST /v1/admin/clock` moves), set to each event's time in turn and given
back its own time afterwards (`moved_clock`). Sales are the exception, for speed (DynamoDB
Local answers concurrent requests faster than one after the other): those of one business day
within `BATCH_SPAN` of each other, with no other event between them, are reported together, on
the clock of the latest — so their log entries and confirmations may read up to two hours after
their `paid_at`, as when a terminal uploads late or the platform retries its notification.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.auth import Principal, parse_terminal_headers, terminal_signature
from chalicelib.clock import Clock
from chalicelib.observability import flush_metrics, logger, metrics
from chalicelib.onboarding.platforms import ALIPAY, WECHATPAY
from chalicelib.payments import alipay
from chalicelib.payments.callbacks import CallbackReply, CallbackRequest
from chalicelib.payments.wechatpay import WechatPayKeys
from localdev import platform_keys, wechatpay_platform
from localdev.demo_story import BOTH, PLATFORM, TERMINAL, Event, LockIn, MemberRefund, Refund, Sale

if TYPE_CHECKING:
    from chalicelib.bootstrap import Services
    from chalicelib.config import Config

OFFERS, PAYMENTS, REFUNDS = "/v1/terminal/offers", "/v1/terminal/payments", "/v1/terminal/refunds"
ALIPAY_NOTIFY, WECHATPAY_NOTIFY = "/v1/notify/alipay", "/v1/notify/wechatpay"
SECOND_REPORT_AFTER = timedelta(seconds=6)  # a refund's second report (the platform's), this much later
CONCURRENT_SALES = 8
BATCH_SPAN = timedelta(hours=2)  # how much later than its time a sale may be recorded (with a batch)
RETRIES = 4  # of a request answered 5xx (a transaction kept conflicting): as a terminal or the platform would
ALIPAY_TIME = "%Y-%m-%d %H:%M:%S"


class DemoError(RuntimeError):
    """The services refused a step of the demo (a bug in the demo or in the services)."""


@contextmanager
def moved_clock(clock: Clock) -> Iterator[Callable[[datetime], object]]:
    """Yield a setter of the business clock; afterwards the clock reads what it would have read
    had it never moved (its offset from the wall clock is restored)."""
    setter = getattr(clock, "set", None)
    if setter is None:
        raise RuntimeError("the demo plays its history on the local stage's test clock (OffsetClock)")
    before, started = clock.now(), time.monotonic()
    try:
        yield setter
    finally:
        setter(before + timedelta(seconds=time.monotonic() - started))


@contextmanager
def quiet_logs() -> Iterator[None]:
    """Hold back the services' info lines (one per payment: a few hundred for the story) so that
    `make run`'s output stays readable; warnings and errors still show."""
    level = logger.log_level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def publish_metrics() -> None:
    """Publish the metrics the services gathered, as the middleware does after each request. Where
    metrics are disabled (the local stage) Powertools keeps them, and prints them anyway once one
    holds 100 values: those are dropped."""
    flush_metrics()
    metrics.clear_metrics()


@dataclass
class Shop:
    """A demo merchant as its terminal and the platforms know it."""

    key: str
    merchant_id: str
    terminal_id: str
    secret: str
    alipay_seller_id: str | None
    wechat_sub_mchid: str | None
    verified: bool  # its platform ids are verified bindings (else claims: nothing confirms)
    plan_id: str | None = None


@dataclass(frozen=True)
class PlatformSigners:
    """The platforms' private keys the seeder may sign with: the local stage's, where the server
    trusts them. WeChat Pay's comes with the serial the server knows it by."""

    alipay: rsa.RSAPrivateKey | None = None
    wechatpay: tuple[rsa.RSAPrivateKey, str] | None = None

    @classmethod
    def local(cls, config: Config, data_dir: Path) -> PlatformSigners:
        """The local platforms' keys in `data_dir` (never generated here) that `config` trusts."""
        ali = None
        if config.alipay_app_id and config.alipay_public_key and (data_dir / platform_keys.KEY_FILE).exists():
            key = platform_keys.private_key(data_dir)
            try:
                trusted = alipay.load_public_key(config.alipay_public_key)
            except ValueError:
                trusted = None
            if trusted is not None and trusted.public_numbers() == key.public_key().public_numbers():
                ali = key
        wechat = None
        files = (data_dir / wechatpay_platform.KEY_FILE, data_dir / wechatpay_platform.IDENTITY_FILE)
        if config.wechatpay_sp_mchid and config.wechatpay_apiv3_key and all(f.exists() for f in files):
            key = wechatpay_platform.local_platform(data_dir).key
            try:
                trusted_keys = WechatPayKeys.load(config.wechatpay_public_key_id, config.wechatpay_public_key,
                                                  config.wechatpay_platform_certs).by_serial
            except ValueError:
                trusted_keys = {}
            serial = next((s for s, k in trusted_keys.items()
                           if k.public_numbers() == key.public_key().public_numbers()), None)
            wechat = (key, serial) if serial else None
        return cls(ali, wechat)


@dataclass
class _Member:
    membership_id: str
    starts_at: datetime
    ends_at: datetime
    refunded: bool = False


@dataclass(frozen=True)
class _Reported:
    amount_fen: int  # what the buyer paid: the list price less the member discount
    trade_no: str | None  # the platform's number, when a platform reported it
    confirmed: bool  # a platform reported it through a verified binding


@dataclass
class Played:
    """What the play recorded, for the demo's state file and its summary."""

    payments: Counter[str] = field(default_factory=Counter)  # per shop
    confirmed: Counter[str] = field(default_factory=Counter)
    refunds: int = 0
    buyers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (shop, buyer) -> payments
    members: list[dict[str, Any]] = field(default_factory=list)


class Play:
    """Acts out the story's events through `services`, as the shops' terminals, the platforms and
    the customers would."""

    def __init__(self, services: Services, shops: dict[str, Shop], signers: PlatformSigners) -> None:
        self.services = services
        self.shops = shops
        self.signers = signers
        self.paid: dict[tuple[str, str], tuple[Sale, int]] = {}  # (shop, otn) -> the sale, what the buyer paid
        self.trade_nos: dict[tuple[str, str], str] = {}  # of the sales a platform reported
        self.memberships: dict[tuple[str, str], _Member] = {}  # (shop, customer) -> its membership
        self.played = Played()

    def run(self, events: Iterable[Event], travel: Callable[[datetime], object]) -> Played:
        """Each event at its time on the business clock. The sales between two other events of a
        business day are independent of each other (other buyers, other payments): they are
        reported concurrently, on the clock of the latest of them."""
        self._travel = travel
        batch: list[Sale] = []
        with ThreadPoolExecutor(max_workers=CONCURRENT_SALES) as pool:
            def report_batch() -> None:
                if batch:
                    travel(batch[-1].at)
                    for sale, done in zip(batch, pool.map(self._sale, batch), strict=True):
                        self._count(sale, done)
                    batch.clear()
                    publish_metrics()

            for event in events:
                if isinstance(event, Sale):
                    if batch and not self._together(batch[0], event):
                        report_batch()
                    batch.append(event)
                    continue
                report_batch()
                travel(event.at)
                if isinstance(event, LockIn):
                    self._lock_in(event)
                elif isinstance(event, MemberRefund):
                    self._member_refund(event)
                else:
                    self._refund(event)
                publish_metrics()
            report_batch()
        return self.played

    def _together(self, first: Sale, sale: Sale) -> bool:
        """May `sale` be reported with the batch that `first` opened: the same business day, and
        no membership period ending in between (the terminal's offer would change)."""
        tz = self.services.config.tz
        return (first.at.astimezone(tz).date() == sale.at.astimezone(tz).date() and sale.at - first.at <= BATCH_SPAN
                and not any(first.at < m.ends_at <= sale.at for m in self.memberships.values()))

    def _count(self, sale: Sale, done: _Reported) -> None:
        self.paid[(sale.shop, sale.out_trade_no)] = (sale, done.amount_fen)
        if done.trade_no:
            self.trade_nos[(sale.shop, sale.out_trade_no)] = done.trade_no
        self.played.payments[sale.shop] += 1
        self.played.buyers[(sale.shop, sale.buyer)] += 1
        self.played.confirmed[sale.shop] += int(done.confirmed)

    # ---------------------------------------------------------------- what happens

    def _member_at(self, shop: str, buyer: str, at: datetime) -> bool:
        m = self.memberships.get((shop, buyer))
        return m is not None and not m.refunded and m.starts_at <= at < m.ends_at

    def _sale(self, s: Sale) -> _Reported:
        """Report one sale through its channels, in their order; what the buyer paid."""
        shop = self.shops[s.shop]
        platform = self._platform_of(shop, s.buyer)
        report = s.report if platform else TERMINAL
        discount = 0
        if report != PLATFORM and self._member_at(s.shop, s.buyer, s.at):  # the big screen shows the discount
            discount = int(self._offer(shop, s.buyer, s.list_fen)["discount_fen"])
        amount = s.list_fen - discount
        trade_no = _trade_no(platform, s.out_trade_no) if platform and report != TERMINAL else None
        steps: list[Callable[[], None]] = []
        if report in (BOTH, TERMINAL):
            body: dict[str, Any] = {"out_trade_no": s.out_trade_no, "amount_fen": amount, "buyer_id": s.buyer,
                                    "paid_at": s.at.isoformat()}
            if discount:
                body["discount_fen"] = discount
            if trade_no:
                body["trade_no"] = trade_no
            steps.append(lambda: self._terminal(shop, PAYMENTS, body))
        if report in (BOTH, PLATFORM):
            assert platform is not None and trade_no is not None
            steps.append(lambda: self._notify_paid(platform, shop, s.out_trade_no, amount, s.buyer, s.at, trade_no))
        if s.platform_first:
            steps.reverse()
        for step in steps:
            step()
        return _Reported(amount, trade_no, confirmed=report != TERMINAL and shop.verified)

    def _refund(self, r: Refund) -> None:
        """The terminal reports the refund, then the platform (the same money: recorded once)."""
        shop = self.shops[r.shop]
        sale, amount = self.paid[(r.shop, r.out_trade_no)]
        trade_no = self.trade_nos.get((r.shop, r.out_trade_no))
        refund_fen = min(r.amount_fen, amount)
        self._terminal(shop, REFUNDS, {"out_trade_no": r.out_trade_no, "out_request_no": r.request_no,
                                       "amount_fen": refund_fen})
        platform = self._platform_of(shop, sale.buyer) if trade_no else None
        self._travel(r.at + SECOND_REPORT_AFTER)
        if platform == ALIPAY and trade_no:
            self._alipay(shop, r.out_trade_no, amount, sale.buyer, sale.at, trade_no, refund_fen=refund_fen)
        elif platform == WECHATPAY:
            self._wechatpay("REFUND.SUCCESS", wechatpay_platform.refund(
                self.services.config.wechatpay_sp_mchid, shop.wechat_sub_mchid or "", r.out_trade_no, r.request_no,
                refund_fen, amount))
        self.played.refunds += 1

    def _lock_in(self, e: LockIn) -> None:
        shop = self.shops[e.shop]
        out = self.services.memberships.lock_in(Principal(sub=e.customer, role="customer"),
                                                _json({"plan_id": shop.plan_id}), None)
        if out.status != 201:
            raise DemoError(f"lock-in of {e.customer} at {shop.merchant_id}: {out.status} {out.body}")
        self.memberships[(e.shop, e.customer)] = _Member(str(out.body["membership_id"]),
                                                         datetime.fromisoformat(out.body["starts_at"]),
                                                         datetime.fromisoformat(out.body["ends_at"]))
        self.played.members.append({"customer_id": e.customer, "merchant_id": shop.merchant_id,
                                    "membership_id": out.body["membership_id"]})

    def _member_refund(self, e: MemberRefund) -> None:
        member = self.memberships[(e.shop, e.customer)]
        out = self.services.memberships.refund(Principal(sub=e.customer, role="customer"), member.membership_id,
                                               b"{}", None)
        if out.status != 200:
            raise DemoError(f"membership refund of {e.customer}: {out.status} {out.body}")
        member.refunded = True

    # ---------------------------------------------------------------- the terminal

    def _signed(self, shop: Shop, path: str, raw: bytes) -> tuple[dict[str, str], float]:
        wall = time.time()
        ts, nonce = str(int(wall)), secrets.token_hex(16)
        return {"x-yundian-terminal": shop.terminal_id, "x-yundian-timestamp": ts, "x-yundian-nonce": nonce,
                "x-yundian-signature": terminal_signature(shop.secret, "POST", path, ts, nonce, raw),
                "content-type": "application/json"}, wall

    def _offer(self, shop: Shop, buyer: str, list_fen: int) -> dict[str, Any]:
        """What the view of `POST /v1/terminal/offers` does: authenticate, then ask memberships."""
        raw = _json({"buyer_id": buyer, "amount_fen": list_fen})
        headers, wall = self._signed(shop, OFFERS, raw)
        identity = self.services.terminal_auth.authenticate(parse_terminal_headers(headers, wall), "POST", OFFERS, raw)
        return self.services.memberships.offer(identity, raw)

    def _terminal(self, shop: Shop, path: str, body: dict[str, Any]) -> None:
        raw = _json(body)
        payments = self.services.payments
        use_case = payments.terminal_payment if path == PAYMENTS else payments.terminal_refund

        def send() -> CallbackReply:
            headers, wall = self._signed(shop, path, raw)
            return use_case(CallbackRequest("terminal", "POST", path, headers, raw, wall))

        _send(send, 200, f"{path} {body['out_trade_no']}")

    # ---------------------------------------------------------------- the platforms

    def _platform_of(self, shop: Shop, buyer: str) -> str | None:
        """The platform the buyer paid with, when the shop is bound there and we can sign as it."""
        if buyer.startswith("2088"):
            return ALIPAY if shop.alipay_seller_id and self.signers.alipay else None
        return WECHATPAY if shop.wechat_sub_mchid and self.signers.wechatpay else None

    def _notify_paid(self, platform: str, shop: Shop, out_trade_no: str, amount: int, buyer: str,
                     paid_at: datetime, trade_no: str) -> None:
        if platform == ALIPAY:
            self._alipay(shop, out_trade_no, amount, buyer, paid_at, trade_no)
        else:
            config = self.services.config
            self._wechatpay("TRANSACTION.SUCCESS", wechatpay_platform.transaction(
                config.wechatpay_sp_mchid, shop.wechat_sub_mchid or "", out_trade_no, amount, buyer, paid_at,
                transaction_id=trade_no))

    def _alipay(self, shop: Shop, out_trade_no: str, amount: int, buyer: str, paid_at: datetime, trade_no: str,
                refund_fen: int | None = None) -> None:
        """Alipay's trade notification (`refund_fee`: the cumulative refund, when there is one)."""
        assert self.signers.alipay is not None and shop.alipay_seller_id
        now = self.services.clock.now()
        params = {"notify_time": _alipay_time(now), "notify_type": "trade_status_sync",
                  "notify_id": f"demo{secrets.token_hex(12)}", "app_id": self.services.config.alipay_app_id,
                  "charset": "utf-8", "version": "1.0", "sign_type": "RSA2", "trade_no": trade_no,
                  "out_trade_no": out_trade_no, "buyer_id": buyer, "seller_id": shop.alipay_seller_id,
                  "trade_status": "TRADE_SUCCESS", "total_amount": _yuan(amount),
                  "gmt_create": _alipay_time(paid_at), "gmt_payment": _alipay_time(paid_at)}
        if refund_fen:
            params.update(refund_fee=_yuan(refund_fen), gmt_refund=_alipay_time(now),
                          trade_status="TRADE_CLOSED" if refund_fen == amount else "TRADE_SUCCESS")
        params["sign"] = alipay.sign(params, self.signers.alipay)
        body = urlencode(params).encode()
        headers = {"content-type": "application/x-www-form-urlencoded"}
        notify = self.services.payments.alipay_notification
        _send(lambda: notify(CallbackRequest("alipay", "POST", ALIPAY_NOTIFY, headers, body, time.time())), 200,
              f"alipay {out_trade_no}")

    def _wechatpay(self, event_type: str, resource: dict[str, Any]) -> None:
        assert self.signers.wechatpay is not None
        key, serial = self.signers.wechatpay

        def send() -> CallbackReply:
            headers, body = wechatpay_platform.notification(event_type, resource, key=key, serial=serial,
                                                            apiv3_key=self.services.config.wechatpay_apiv3_key)
            return self.services.payments.wechatpay_notification(CallbackRequest(
                "wechatpay", "POST", WECHATPAY_NOTIFY, {k.lower(): v for k, v in headers.items()}, body, time.time()))

        _send(send, 204, f"wechatpay {event_type} {resource['out_trade_no']}")


def _send(send: Callable[[], CallbackReply], status: int, what: str) -> None:
    """Send a request (each attempt signed anew) until it is answered, retrying 5xx answers as
    the terminals and the platforms do; anything but `status` is a `DemoError`."""
    for attempt in range(RETRIES):
        reply = send()
        if reply.status < 500 or attempt == RETRIES - 1:
            break
        time.sleep(0.05 * 2**attempt)
    if reply.status != status:
        raise DemoError(f"{what}: {reply.status} {reply.body}")


def _trade_no(platform: str | None, out_trade_no: str) -> str:
    """The platform's number of the payment, the same for every report of it."""
    digits = str(int(hashlib.sha256(out_trade_no.encode()).hexdigest(), 16))
    return ("2026" + digits[:24]) if platform == ALIPAY else ("4200" + digits[:24])


def _alipay_time(at: datetime) -> str:
    return at.astimezone(alipay.ALIPAY_TZ).strftime(ALIPAY_TIME)


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()
