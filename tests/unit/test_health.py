"""cliwrap.health's sans-IO parts: quota messages and reset times as the pinned CLIs write
them, what their status commands print, the login board, fallbacks, plan_only, budgets."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from cliwrap.config import BudgetsConfig, ModelChain, ProviderConfig
from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.core.events import Failed, Finished
from cliwrap.core.request import ChatRequest, Message
from cliwrap.health import LoginBoard, LoginState, QuotaFilter, RunWatch, chain, falls_back
from cliwrap.health.budget import capped
from cliwrap.health.checks import claude_status, codex_status, gemini_credentials
from cliwrap.health.plans import plan_only_environment, plan_only_verdict
from cliwrap.health.quota import quota_error, reset_at

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc).timestamp()


def at(text: str) -> datetime | None:
    found = reset_at(text, NOW, timezone.utc)
    return None if found is None else datetime.fromtimestamp(found, timezone.utc)


@pytest.mark.parametrize(
    ("message", "resets"),
    [
        # Claude Code (bundle: `You've hit your ${e}${r}`, r = " · resets …")
        (
            "Claude AI usage limit reached|1764500000",
            datetime.fromtimestamp(1764500000, timezone.utc),
        ),
        (
            "You've hit your usage limit · resets 3pm (Europe/Berlin)",
            datetime(2026, 11, 30, 14, 0, tzinfo=timezone.utc),
        ),
        (
            "You've hit your session limit · resets in 2h 30m",
            datetime(2026, 11, 30, 12, 30, tzinfo=timezone.utc),
        ),
        ("spend limit reached · resets Dec 8", datetime(2026, 12, 8, tzinfo=timezone.utc)),
        (
            "You've hit your weekly limit · resets Jan 2, 9am",
            datetime(2027, 1, 2, 9, tzinfo=timezone.utc),
        ),
        # Codex (binary: "… or try again at " + its local time, today's or dated)
        (
            "You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit "
            "https://chatgpt.com/settings/usage to purchase more credits or try again at 3:04 PM.",
            datetime(2026, 11, 30, 15, 4, tzinfo=timezone.utc),
        ),
        (
            "You've hit your usage limit. To get more access now, send a request to your admin "
            "or try again at Dec 1st, 2026 8:15 AM.",
            datetime(2026, 12, 1, 8, 15, tzinfo=timezone.utc),
        ),
        (
            '{"type":"usage_limit_reached","resets_at":1764504000}',
            datetime.fromtimestamp(1764504000, timezone.utc),
        ),
        # Gemini CLI (bundle: TerminalQuotaError; "Please retry in ([0-9.]+(?:ms|s))")
        (
            "Quota exceeded for quota metric 'Generate Content'. Please retry in 26.5s.",
            datetime(2026, 11, 30, 10, 0, 26, 500000, tzinfo=timezone.utc),
        ),
        ("You have exhausted your daily quota on this model.", None),
        # Qwen Code's OpenAI-compatible backends
        ("You exceeded your current quota, please check your plan and billing details.", None),
    ],
)
def test_quota_messages_become_quota_exceeded_with_their_reset(
    message: str, resets: datetime | None
) -> None:
    assert at(message) == resets
    error = quota_error(ApiError(ErrorKind.RATE_LIMIT, message), NOW, timezone.utc)
    assert error.kind is ErrorKind.QUOTA_EXCEEDED
    assert error.status == 429
    assert error.kind.openai_code == "quota_exceeded"
    if resets is not None:
        assert error.retry_after == pytest.approx(max(1.0, resets.timestamp() - NOW))


def test_a_passing_rate_limit_is_not_a_quota() -> None:
    error = ApiError(
        ErrorKind.RATE_LIMIT,
        "Rate limit reached for requests. Please try again in 7s.",
        retry_after=7,
    )
    assert quota_error(error, NOW) is error
    logged_out = ApiError(ErrorKind.CLI_LOGGED_OUT, "usage limit")  # not a kind quota has
    assert quota_error(logged_out, NOW) is logged_out


def test_the_quota_filter_rewrites_failures_only() -> None:
    quota = QuotaFilter(clock=lambda: NOW)
    (out,) = quota.feed(Failed(ApiError(ErrorKind.CLI_FAILED, "You're out of usage credits")))
    assert isinstance(out, Failed)
    assert out.error.kind is ErrorKind.QUOTA_EXCEEDED
    assert quota.feed(Finished()) == [Finished()]


CLAUDE_LOGGED_OUT = """{
  "loggedIn": false,
  "authMethod": "none",
  "apiProvider": "firstParty",
  "configDirectory": "/tmp/h/.claude",
  "loginExpiresAt": null
}"""
CLAUDE_SUBSCRIPTION = (
    '{"loggedIn": true, "authMethod": "claude.ai", "apiProvider": "firstParty", '
    '"subscriptionType": "max", "storedClaudeAiLogin": true}'
)
CLAUDE_API_KEY = (
    '{"loggedIn": true, "authMethod": "api_key", "apiProvider": "firstParty", '
    '"apiKeySource": "ANTHROPIC_API_KEY"}'
)
CODEX_WARNING = 'WARNING: proceeding, even though we could not create PATH aliases: …"\n'


def test_what_the_status_commands_print() -> None:
    """``claude auth status`` and ``codex login status`` as the pinned versions print them."""
    out = claude_status(1, CLAUDE_LOGGED_OUT)
    assert (out.healthy, out.method) == (False, None)
    assert "/tmp" not in out.detail
    assert claude_status(0, CLAUDE_SUBSCRIPTION).method == "claude.ai"
    assert claude_status(0, CLAUDE_API_KEY).healthy is True
    assert claude_status(1, "").healthy is None
    assert codex_status(1, CODEX_WARNING + "Not logged in\n").healthy is False
    with_key = codex_status(1, "Not logged in\n", env={"OPENAI_API_KEY": "k"})
    assert (with_key.healthy, with_key.method) == (None, "env:OPENAI_API_KEY")
    key = codex_status(0, CODEX_WARNING + "API key configured - sk-proj-***hijkl\n")
    assert (key.healthy, key.method) == (True, "api_key")
    assert "sk-" not in key.detail
    chatgpt = codex_status(0, "Logged in using ChatGPT\n")
    assert (chatgpt.healthy, chatgpt.method) == (True, "chatgpt")
    assert codex_status(1, "Error checking login status: bad JSON").healthy is None
    own = codex_status(1, "", env_keys={"STUB_KEY"}, env={"STUB_KEY": "x"})
    assert (own.healthy, own.method) == (True, "env:STUB_KEY")
    # Its key unset: not "logged out" (that 401 would hide the run's 424 naming the variable).
    unset = codex_status(1, "Not logged in\n", env_keys={"STUB_KEY"}, env={})
    assert (unset.healthy, unset.method) == (None, "env:STUB_KEY")


def test_gemini_credentials(tmp_path: Path) -> None:
    assert gemini_credentials({"GEMINI_API_KEY": "k"}, None).healthy is True
    assert gemini_credentials({}, tmp_path).healthy is False
    (tmp_path / ".gemini").mkdir()
    (tmp_path / ".gemini" / "oauth_creds.json").write_text("{}")
    assert gemini_credentials({}, tmp_path).method == "oauth-personal"


def test_the_login_board_refuses_while_a_probed_logged_out_verdict_is_fresh() -> None:
    now = [1000.0]
    board = LoginBoard({"claude": "run claude /login"}, trust=300, clock=lambda: now[0])
    assert board.get("claude").healthy is None
    assert board.refusal("claude") is None
    suspects: list[str] = []
    board.on_suspect = suspects.append
    watch = RunWatch(board, "claude")
    watch.feed(Failed(ApiError(ErrorKind.CLI_LOGGED_OUT, "Invalid API key")))
    # A run's 401 is shown and asks for a probe, but refuses nothing by itself.
    assert board.get("claude").healthy is False
    assert suspects == ["claude"]
    assert board.refusal("claude") is None
    board.probed("claude", LoginState(method="claude.ai", healthy=False))
    refused = board.refusal("claude")
    assert refused is not None
    assert refused.kind is ErrorKind.CLI_LOGGED_OUT
    assert "run claude /login" in refused.message
    now[0] += 301  # old verdicts are not trusted: the next request tries again
    assert board.refusal("claude") is None
    board.probed("claude", LoginState(method="claude.ai", healthy=False))
    assert board.refusal("claude") is not None
    watch.feed(Finished())
    state = board.get("claude")
    assert (state.healthy, state.method, state.checked_at) == (True, "claude.ai", now[0])
    assert board.refusal("claude") is None
    assert state.as_json()["checked_at"].startswith("1970-01-01T00:")


def test_fallback_chains() -> None:
    providers = {
        "claude": ProviderConfig(fallback_model=ModelChain(("haiku", "gemini/gemini-2.5-flash"))),
        "codex": ProviderConfig(),
    }
    assert chain("claude", providers) == ("claude/haiku", "gemini/gemini-2.5-flash")
    assert chain("codex", providers) == ()
    for kind in (ErrorKind.OVERLOADED, ErrorKind.QUOTA_EXCEEDED, ErrorKind.MODEL_NOT_FOUND):
        assert falls_back(ApiError(kind, "x"))
    assert not falls_back(ApiError(ErrorKind.CLI_LOGGED_OUT, "x"))
    assert not falls_back(ApiError(ErrorKind.QUEUE_FULL, "x"))  # our own queue: same for all
    assert not falls_back(None)


def test_plan_only_withholds_paid_credentials() -> None:
    settings = ProviderConfig(plan_only=True, env={"ANTHROPIC_API_KEY": "a", "X": "1"})
    environ, kept = plan_only_environment(
        "claude", {"ANTHROPIC_API_KEY": "b", "CLAUDE_CODE_OAUTH_TOKEN": "t"}, settings
    )
    assert environ == {"CLAUDE_CODE_OAUTH_TOKEN": "t"}
    assert kept.env == {"X": "1"}
    paid = LoginState(method="api_key", healthy=True)
    assert plan_only_verdict("codex", paid, settings).healthy is False
    assert plan_only_verdict("codex", paid, ProviderConfig()).healthy is True


def test_the_budget_is_the_lowest_cap_and_a_bad_header_is_a_400() -> None:
    chat = ChatRequest(model="m", messages=(Message("user", "hi"),), max_tokens=500)
    budgets = BudgetsConfig(max_request_usd=1.0, max_request_tokens=2000)
    assert capped(chat, BudgetsConfig(), {}) is chat
    lowered = capped(chat, budgets, {"x-max-budget-usd": "0.25", "x-max-budget-tokens": "100"})
    assert (lowered.max_budget_usd, lowered.max_tokens) == (0.25, 100)
    raised = capped(chat, budgets, {"x-max-budget-usd": "9"})  # never above the server's
    assert (raised.max_budget_usd, raised.max_tokens) == (1.0, 500)
    for bad in ("-1", "nan", "lots"):
        with pytest.raises(ApiError) as refused:
            capped(chat, budgets, {"x-max-budget-usd": bad})
        assert refused.value.status == 400
