"""Every supervision rule: its code, category, default severity and the law article it enforces."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.findings import Category, Severity

LAW = "行政许可法"
MEASURE = "电子监察办法第六条"  # the published municipal e-supervision measure's triggers (shared/supervision.md)
PROMISE = "承诺时限 (服务承诺制)"


@dataclass(frozen=True)
class Rule:
    """A supervision rule: code, category, default severity, title, and the law article or other source it enforces."""

    code: str
    category: Category
    severity: Severity
    title: str
    law_article: str | None = None
    # Where a rule enforces no article of the law: the published measure or promise it comes from.
    source: str | None = None

    @property
    def basis(self) -> str:
        """What the rule enforces: its law article, else its source, else an empty string."""
        return self.law_article or self.source or ""


_T, _F, _P, _C, _Q, _D = (
    Category.time,
    Category.fee,
    Category.procedure,
    Category.condition,
    Category.first_inquiry,
    Category.data_quality,
)
_N, _Y, _R = Severity.notice, Severity.yellow, Severity.red

RULES: dict[str, Rule] = {
    r.code: r
    for r in (
        # time limits: one notice / breach / red triple per clock
        Rule("TIME_ACCEPT_NOTICE", _T, _N, "acceptance deadline approaching", f"{LAW} 第32条"),
        Rule(
            "TIME_ACCEPT_DEEMED", _T, _Y, "no acceptance decision in time: deemed accepted", f"{LAW} 第32条第1款第4项"
        ),
        Rule(
            "TIME_ACCEPT_PROMISE_BREACHED",
            _T,
            _Y,
            "promised acceptance time (承诺时限) exceeded",
            None,
            f"{MEASURE}(二) 超承诺时限",
        ),
        Rule("TIME_REVIEW_NOTICE", _T, _N, "preliminary-review deadline approaching", f"{LAW} 第43条"),
        Rule(
            "TIME_REVIEW_PROMISE_BREACHED",
            _T,
            _Y,
            "promised preliminary-review time exceeded",
            None,
            f"{MEASURE}(二) 超承诺时限",
        ),
        Rule("TIME_REVIEW_OVERDUE", _T, _Y, "preliminary review overdue", f"{LAW} 第43条"),
        Rule("TIME_REVIEW_RED", _T, _R, "preliminary review still pending after follow-up", f"{LAW} 第43条"),
        Rule("TIME_DECISION_NOTICE", _T, _N, "decision deadline approaching", f"{LAW} 第42条"),
        Rule(
            "TIME_DECISION_PROMISE_BREACHED",
            _T,
            _Y,
            "promised decision time (承诺时限) exceeded",
            None,
            f"{MEASURE}(二) 超承诺时限",
        ),
        Rule("TIME_DECISION_OVERDUE", _T, _Y, "decision overdue", f"{LAW} 第42条"),
        Rule("TIME_DECISION_RED", _T, _R, "decision still pending after the follow-up period", f"{LAW} 第42条"),
        Rule(
            "TIME_DEEMED_APPROVAL",
            _T,
            _Y,
            "no decision in time: deemed approved (超时默认)",
            None,
            "the item's local rule (catalog deemed_approval.basis)",
        ),
        Rule("TIME_DELIVERY_NOTICE", _T, _N, "certificate delivery deadline approaching", f"{LAW} 第44条"),
        Rule(
            "TIME_DELIVERY_PROMISE_BREACHED",
            _T,
            _Y,
            "promised delivery time exceeded",
            None,
            f"{MEASURE}(二) 超承诺时限",
        ),
        Rule("TIME_DELIVERY_OVERDUE", _T, _Y, "certificate not delivered in time", f"{LAW} 第44条"),
        Rule("TIME_DELIVERY_RED", _T, _R, "certificate still undelivered after follow-up", f"{LAW} 第44条"),
        Rule(
            "TIME_STEP_NOTICE",
            _T,
            _N,
            "an internal step's promised limit (环节时限) approaching",
            None,
            f"{MEASURE}(三) 环节超时",
        ),
        Rule(
            "TIME_STEP_BREACHED",
            _T,
            _Y,
            "an internal step's promised limit (环节时限) exceeded",
            None,
            f"{MEASURE}(三) 环节超时",
        ),
        # fees
        Rule("FEE_ON_FREE_ITEM", _F, _Y, "fee charged on an item with no legal fee basis", f"{LAW} 第58条"),
        Rule("FEE_NOT_LISTED", _F, _Y, "fee code not among the item's published fees", f"{LAW} 第59条"),
        Rule("FEE_OVER_STANDARD", _F, _Y, "fee above the published standard", f"{LAW} 第59条"),
        Rule("FEE_DUPLICATE", _F, _Y, "the same fee charged twice on one case", f"{LAW} 第59条"),
        # procedure
        Rule("PROC_STAGE_SKIPPED", _P, _Y, "a stage was skipped", f"{LAW} 第29-38条"),
        Rule("PROC_STAGE_ORDER", _P, _Y, "a stage out of order", f"{LAW} 第29-38条"),
        Rule(
            "PROC_AFTER_CONCLUSION",
            _P,
            _Y,
            "an event after the case was concluded",
            None,
            f"{MEASURE}(八) 其他不规范审批",
        ),
        Rule(
            "PROC_SAME_REVIEWER_APPROVER",
            _P,
            _Y,
            "the same person reviewed and approved",
            None,
            "the item's separation of review and approval (catalog)",
        ),
        Rule(
            "PROC_SUPPLEMENT_REPEATED",
            _P,
            _Y,
            "a second supplement notice (一次性告知 broken)",
            f"{LAW} 第32条第1款第4项",
        ),
        Rule("PROC_EXTENSION_LATE", _P, _Y, "extension granted after the deadline", f"{LAW} 第42条"),
        Rule("PROC_EXTENSION_EXCESS", _P, _Y, "extension beyond the maximum", f"{LAW} 第42条"),
        Rule("PROC_EXTENSION_NO_APPROVER", _P, _Y, "extension without a superior's approval", f"{LAW} 第42条"),
        Rule("PROC_EXTENSION_REPEATED", _P, _Y, "a second extension", f"{LAW} 第42条"),
        Rule("PROC_EXTENSION_NOT_NOTIFIED", _P, _N, "applicant not told the reason for the extension", f"{LAW} 第42条"),
        Rule("PROC_SUSPENSION_NO_REASON", _P, _Y, "time suspended without a stated reason", f"{LAW} 第45条"),
        Rule(
            "PROC_SUSPENSION_NOT_NOTIFIED", _P, _N, "applicant not told in writing of the suspension", f"{LAW} 第45条"
        ),
        Rule("PROC_RESUME_WITHOUT_SUSPENSION", _P, _N, "resumption with no suspension open", f"{LAW} 第45条"),
        Rule("PROC_NOT_DELIVERED", _P, _Y, "case concluded without delivering the certificate", f"{LAW} 第44条"),
        Rule(
            "PROC_REFUSAL_NO_REASON",
            _P,
            _Y,
            "refusal (不予受理/不予许可) without its reasons",
            f"{LAW} 第32条、第38条第2款",
        ),
        Rule(
            "PROC_REFUSAL_NO_REMEDY",
            _P,
            _Y,
            "refusal without telling the applicant of the right to review or litigation",
            f"{LAW} 第38条第2款",
        ),
        # conditions
        Rule("COND_MATERIALS_MISSING", _C, _Y, "approved while required materials were missing", f"{LAW} 第38条"),
        Rule("COND_CONDITIONS_UNMET", _C, _Y, "approved while licensing conditions were unverified", f"{LAW} 第38条"),
        Rule(
            "COND_QUALIFIED_REFUSED",
            _C,
            _N,
            "complete application refused with no supplement notice: review whether it qualified",
            f"{LAW} 第32条、第38条第1款",
        ),
        # first-inquiry responsibility
        Rule(
            "FIRST_INQUIRY_NO_REFERRAL", _Q, _Y, "inquiry closed as out of scope without a referral", None, "首问负责制"
        ),
        # data quality
        Rule(
            "DQ_BACKDATED",
            _D,
            _Y,
            "event recorded long after it occurred (back-dated)",
            None,
            f"{MEASURE}(六) 不按规定网上办理",
        ),
        Rule(
            "DQ_FUTURE_DATED",
            _D,
            _N,
            "event occurs after it was recorded",
            None,
            "event-time integrity (esup/config/rules.yaml)",
        ),
        Rule(
            "DQ_UNKNOWN_ITEM",
            _D,
            _Y,
            "item code not in the catalog; law defaults applied",
            None,
            "行政许可事项目录 (catalog)",
        ),
        # off-system handling (体外循环, 不按规定网上办理) and clock manipulation: for the supervisor's review
        Rule(
            "DQ_APPLY_AFTER_DECISION",
            _D,
            _Y,
            "application recorded only at or after its decision (off-system)",
            None,
            f"{MEASURE}(六) 不按规定网上办理",
        ),
        Rule(
            "DQ_BATCH_ENTERED",
            _D,
            _Y,
            "several back-dated events of a case entered at once (off-system)",
            None,
            f"{MEASURE}(六) 不按规定网上办理",
        ),
        Rule(
            "DQ_IMPLAUSIBLY_FAST",
            _D,
            _N,
            "decided faster than the item's plausible minimum",
            None,
            f"{MEASURE}(六) 不按规定网上办理",
        ),
        Rule(
            "DQ_SUSPENSION_EXCESSIVE",
            _D,
            _N,
            "suspended time exceeds the configured share of the period",
            f"{LAW} 第45条",
        ),
        Rule(
            "DQ_SUPPLEMENT_AFTER_ACCEPTANCE",
            _D,
            _N,
            "supplement notice after acceptance (a clock restart)",
            f"{LAW} 第32条",
        ),
        Rule(
            "DQ_WITHDRAW_REAPPLY",
            _D,
            _N,
            "withdrawn, then applied again for the same item by the same applicant within a short window",
            None,
            "review heuristic: a new application restarts the periods (行政许可法 第32条、第42条)",
        ),
        # input integrity: resends, runaway cases, times ahead of the broker's receipt (streams/rules/integrity.py)
        Rule(
            "DQ_CONFLICTING_RESEND",
            _D,
            _Y,
            "an event id resent with different content (first version stands)",
            None,
            "idempotency of the data-access contract",
        ),
        Rule(
            "DQ_EVENT_LIMIT",
            _D,
            _Y,
            "case reached the bound of remembered events; later ones not applied",
            None,
            "bounded case state",
        ),
        Rule(
            "DQ_STATE_LIMIT",
            _D,
            _Y,
            "case reached the bound of a kept list (materials, conditions…)",
            None,
            "bounded case state",
        ),
        Rule(
            "DQ_AHEAD_OF_RECEIPT",
            _D,
            _Y,
            "event dated after the platform received it",
            None,
            "event-time integrity (broker receipt time)",
        ),
    )
}


# Raised on hostile or broken input (resends with other content, runaway cases, times ahead of the broker's
# receipt), which the province simulator does not produce: their tests live with the worker's.
NOT_SIMULATED = frozenset({"DQ_CONFLICTING_RESEND", "DQ_EVENT_LIMIT", "DQ_STATE_LIMIT", "DQ_AHEAD_OF_RECEIPT"})
