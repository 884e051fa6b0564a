"""A mail as its reader's server judges it: its date in China's time, a Message-ID on the
sender's domain (another domain counts against it as spam), no out-of-office replies."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from workers.notifier.channels.email import SmtpConfig, build, message_id, sender_domain


def test_a_mail_is_dated_in_chinas_time_and_named_on_the_senders_domain() -> None:
    sender = "中小企业公共服务平台 <noreply@sme.zj.gov.cn>"
    domain = sender_domain(sender)
    assert domain == "sme.zj.gov.cn"
    assert sender_domain("noreply") == "tierflow.localhost"  # no domain to take
    config = SmtpConfig("smtp.example.org", 25, sender, domain=domain)
    mail = build(config, "wang@example.com", "主题", "正文", message_id(42, domain), "zh-CN")
    assert mail["Message-ID"] == "<notification-42@sme.zj.gov.cn>"
    assert mail["Date"].endswith("+0800")
    assert parsedate_to_datetime(mail["Date"]).utcoffset() is not None
    assert (mail["Auto-Submitted"], mail["X-Auto-Response-Suppress"]) == ("auto-generated", "All")
